// Credentials written into a URL (`https://user:token@host/file`) are the user's secret: they
// may be sent to that host, but never shown or kept. Every place that prints or records a URL
// or a Dockerfile line (the build log, errors, image history, provenance) passes it through
// here first. BuildKit keeps them in history; Go's URL.Redacted() keeps the user name, which
// is often the token itself (`https://TOKEN@host`), so the whole of it is replaced.

const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"]+@/gi;

/** `text` with the user-info part of every URL in it replaced by `***`. */
export function redactUrlCredentials(text: string): string {
  return text.includes('@') ? text.replace(USERINFO, '$1***@') : text;
}

/** True when a URL carries a user name or password. */
export function hasUrlCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}
