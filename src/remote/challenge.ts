/** A parsed `WWW-Authenticate` challenge: the scheme and its parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header (RFC 7235), e.g.
 * `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:x:pull"`.
 */
export function parseChallenge(header: string): Challenge {
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (!m) return { scheme: '', params: {} };
  const scheme = (m[1] ?? '').toLowerCase();
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  let p: RegExpExecArray | null;
  const rest = m[2] ?? '';
  while ((p = re.exec(rest)) !== null) {
    if (p[0] === '') break;
    params[(p[1] ?? '').toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme, params };
}
