import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from './errors.js';

/** Reads a request body up to `limit` bytes (manifests, token requests); SIZE_INVALID beyond. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new RegistryError('SIZE_INVALID', `body of ${declared} bytes is over the ${limit}-byte limit`, { status: 413 });
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw new RegistryError('SIZE_INVALID', `body is over the ${limit}-byte limit`, { status: 413 });
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Sends a status with headers and an optional body. */
export function send(res: ServerResponse, status: number, headers: Record<string, string | number> = {}, body?: string | Buffer): void {
  const h: Record<string, string | number> = { ...headers };
  if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
  else if (h['content-length'] === undefined) h['content-length'] = 0;
  res.writeHead(status, h);
  res.end(body);
}

/** Sends a JSON document. */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, { 'content-type': 'application/json', ...headers }, JSON.stringify(value));
}

/** Parses `Range: bytes=a-b` against a size; undefined when absent, RANGE_INVALID when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new RegistryError('RANGE_INVALID', `invalid range "${header}"`, { status: 416 });
  let start: number;
  let end: number;
  if (m[1] === '') { start = Math.max(0, size - Number(m[2])); end = size - 1; }
  else { start = Number(m[1]); end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1); }
  if (start > end || start >= size) throw new RegistryError('RANGE_INVALID', `range "${header}" is outside 0-${size - 1}`, { status: 416 });
  return { start, end };
}

/** A Link header for the next page of a paginated list. */
export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

/** Applies `n` and `last` pagination to a sorted list. */
export function paginate(all: string[], url: URL): { items: string[]; next?: string } {
  const last = url.searchParams.get('last');
  const nRaw = url.searchParams.get('n');
  let items = last ? all.filter((t) => t > last) : all;
  if (nRaw === null) return { items };
  const n = Number(nRaw);
  if (!Number.isInteger(n) || n < 0) throw new RegistryError('UNSUPPORTED', `invalid n "${nRaw}"`, { status: 400 });
  const more = items.length > n;
  items = items.slice(0, n);
  return more && items.length > 0 ? { items, next: items[items.length - 1]! } : { items };
}
