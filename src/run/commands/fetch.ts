import { readFile } from 'node:fs/promises';
import { OcimakeError } from '../../errors.js';
import { limit, overLimit } from '../../util/limits.js';
import { redactUrlCredentials } from '../../util/redact.js';
import { FetchStatusError, isUrlSource, urlFileName, type UrlFetcher } from '../../remote/url-fetch.js';
import { RunError } from '../errors.js';
import { writeFileAt } from '../shell/interp.js';
import { absPath, type Command, type Io, type ShellState } from '../shell/state.js';
import { mkdirParents } from './files.js';
import { parseOpts } from './opts.js';

// wget and curl, natively: the download the common "fetch, check, unpack" RUN starts with.
// The file comes through the build's URL fetcher (as ADD <url>: retries, redirects, TLS
// checked but on loopback and --insecure-registry hosts, no credentials, a conditional GET
// for a copy the cache keeps) and is written into the RUN's filesystem. The program must be
// in the image, as for every native command (Alpine's busybox has wget; curl needs
// `apk add curl`). Requests other than a plain GET (headers, data, logins) are refused rather
// than sent without what they ask for.

function unsupported(cmd: string, what: string): OcimakeError {
  return new OcimakeError('RUN_UNSUPPORTED', `${cmd} ${what} is not supported natively`, {
    hint: `RUN ${cmd} fetches plain http(s) URLs; download the file before the build and COPY it, or use ADD <url>`,
  });
}

/** Fetches `url`, or exits as the program does (status `httpStatus` for an error answer, `netStatus` for a failed connection). */
async function fetchOrExit(fetchUrl: UrlFetcher, url: string, httpStatus: number, netStatus: number, say: (status: number) => string): Promise<Buffer> {
  if (!isUrlSource(url)) throw new RunError(`unsupported URL "${url}" (only http and https)`, 1);
  try {
    // RUN keeps files in memory: a download is cut off at runFileSize (ADD <url> streams from disk).
    const got = await fetchUrl(url, { limit: 'runFileSize' });
    if (got.size > limit('runFileSize')) throw overLimit('runFileSize', `${redactUrlCredentials(url)} is ${got.size} bytes`, 'ADD <url> writes large files without holding them in memory');
    return await readFile(got.path);
  } catch (err) {
    if (err instanceof FetchStatusError) throw new RunError(say(err.status), httpStatus);
    if (err instanceof OcimakeError && err.code === 'NETWORK') throw new RunError(err.message, netStatus);
    throw err;
  }
}

/** Writes a download to `path` (relative to the current directory), or to standard output for `-`. */
async function put(sh: ShellState, io: Io, path: string, data: Buffer): Promise<void> {
  if (path === '-') io.out(data);
  else await writeFileAt(sh, path, data, false);
}

/** busybox wget: -q, -O FILE (- for standard output), -P DIR; the file is named after the URL otherwise. */
export function wget(fetchUrl: UrlFetcher): Command {
  return async (args, io, sh) => {
    // Long options with no short form here map to symbols, so that no real short option is taken for one.
    const o = parseOpts('wget', args, 'cqnvO:o:P:ST:t:U:Y:s@%:&:', {
      quiet: 'q', 'output-document': 'O', 'output-file': 'o', 'directory-prefix': 'P', 'server-response': 'S', timeout: 'T', tries: 't',
      'user-agent': 'U', proxy: 'Y', 'no-check-certificate': '@', header: '&', spider: 's', continue: 'c', progress: '%', 'no-verbose': 'n',
    });
    if (o.flags.has('&')) throw unsupported('wget', '--header');
    if (o.flags.has('s')) throw unsupported('wget', '--spider');
    if (o.rest.length === 0) throw new RunError('missing URL', 1);
    const out = o.values.get('O')?.at(-1);
    const dir = o.values.get('P')?.at(-1);
    let first = true;
    for (const url of o.rest) {
      const data = await fetchOrExit(fetchUrl, url, 8, 4, (s) => `server returned error: HTTP/1.1 ${s}`);
      const name = out ?? `${dir ? `${dir.replace(/\/+$/, '')}/` : ''}${urlFileName(url) ?? 'index.html'}`;
      // busybox: a name taken from the URL never overwrites (-O does).
      if (out === undefined && (await sh.fs.resolve(absPath(sh, name), false)).node) throw new RunError(`can't open '${name}': File exists`, 1);
      if (!o.flags.has('q') && name !== '-') io.err(`saving to '${name}'\n`);
      // With -O, every URL goes into the one file, one after the other.
      if (out !== undefined && out !== '-' && !first) await writeFileAt(sh, out, data, true);
      else await put(sh, io, name, data);
      first = false;
    }
    return 0;
  };
}

/** curl: -f, -s, -S, -L, -o FILE, -O, --create-dirs, --output-dir; each URL takes the next -o/-O, or standard output. */
export function curl(fetchUrl: UrlFetcher): Command {
  return async (args, io, sh) => {
    // Options whose only effect is on transfer details ocimake already handles (retries,
    // timeouts, redirects, TLS versions, progress) are taken and ignored.
    const ignoredValue = ['retry', 'retry-delay', 'retry-max-time', 'connect-timeout', 'max-time', 'proto', 'proto-redir', 'user-agent', 'max-redirs', 'speed-time', 'speed-limit'];
    const ignored = ['retry-connrefused', 'retry-all-errors', 'tlsv1', 'tlsv1.2', 'tlsv1.3', 'compressed', 'progress-bar', 'no-progress-meter', 'http1.1', 'http2', 'ssl-reqd', 'fail-early', 'remote-time', 'no-buffer'];
    const rewritten: string[] = [];
    const order: ('o' | 'O')[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const long = a.startsWith('--') ? a.slice(2).split('=')[0]! : undefined;
      if (long && ignoredValue.includes(long)) { if (!a.includes('=')) i++; continue; }
      if (long && ignored.includes(long)) continue;
      if (a === '-m' || a === '-A') { i++; continue; }
      rewritten.push(a);
    }
    const o = parseOpts('curl', rewritten, 'fsSLo:OkvH:d:u:X:#C:Jq@%:^', {
      fail: 'f', 'fail-with-body': 'f', silent: 's', 'show-error': 'S', location: 'L', output: 'o', 'remote-name': 'O', insecure: 'k', verbose: 'v',
      header: 'H', data: 'd', 'data-binary': 'd', 'data-raw': 'd', user: 'u', request: 'X', 'continue-at': 'C', 'remote-header-name': 'J',
      'create-dirs': '@', 'output-dir': '%', 'remote-name-all': '^', disable: 'q',
    });
    for (const [flag, what] of [['H', '-H/--header'], ['d', '-d/--data'], ['u', '-u/--user']] as const) if (o.flags.has(flag)) throw unsupported('curl', what);
    const method = o.values.get('X')?.at(-1);
    if (method !== undefined && method.toUpperCase() !== 'GET') throw unsupported('curl', `-X ${method}`);
    // The order of -o and -O among the arguments pairs them with the URLs.
    for (const a of rewritten) {
      if (a === '-o' || a.startsWith('--output=') || a === '--output' || (/^-[^-]*o/.test(a))) order.push('o');
      else if (a === '-O' || a === '--remote-name' || /^-[^-o]*O/.test(a)) order.push('O');
    }
    const outputs = [...(o.values.get('o') ?? [])];
    const dir = o.values.get('%')?.at(-1);
    const all = o.flags.has('^');
    if (o.rest.length === 0) throw new RunError('no URL specified', 2);
    for (const [k, url] of o.rest.entries()) {
      const kind = order[k] ?? (all ? 'O' : undefined);
      const data = await fetchOrExit(fetchUrl, url, 22, 7, (s) => `(22) The requested URL returned error: ${s}`);
      if (kind === undefined) { io.out(data); continue; }
      const name = kind === 'o' ? outputs.shift()! : urlFileName(url);
      if (name === undefined) throw new RunError(`(23) Remote file name has no length`, 23);
      const path = dir && !name.startsWith('/') && name !== '-' ? `${dir.replace(/\/+$/, '')}/${name}` : name;
      if (o.flags.has('@') && path !== '-') await mkdirParents(sh, absPath(sh, path).replace(/\/[^/]*$/, '') || '/', 23);
      await put(sh, io, path, data);
    }
    return 0;
  };
}
