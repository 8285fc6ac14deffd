/**
 * A name from an image or context, quoted for a message: control characters (a hostile
 * layer's ESC sequences, newlines) are shown escaped, never sent to the terminal.
 */
export function quoteName(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\u0000-\u001f\u007f-\u009f"\\]/.test(name)) return `"${name}"`;
  return JSON.stringify(name).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
