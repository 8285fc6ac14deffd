import { promises as fs } from 'node:fs';
import { OcimakeError } from '../errors.js';
import { limit, overLimit } from '../util/limits.js';

/**
 * Reads a Dockerfile from a path, or from stdin for `-`, at most the dockerfileSize limit:
 * `-f /dev/zero` or an endless pipe fails at the limit instead of filling memory.
 */
export async function readDockerfile(path: string, opts: { allowPipe?: boolean; stdin?: NodeJS.ReadableStream } = {}): Promise<string> {
  const max = limit('dockerfileSize');
  const what = path === '-' ? 'the Dockerfile on stdin' : `the Dockerfile ${path}`;
  let input: AsyncIterable<Buffer>;
  let close = async (): Promise<void> => {};
  // process.stdin is touched only here: opening it costs a few ms of start-up.
  if (path === '-') input = (opts.stdin ?? process.stdin) as AsyncIterable<Buffer>;
  else {
    // Looked at before the open: a fifo nobody writes to would block the open forever, so only
    // a -f the user named may be a pipe.
    const st = await fs.stat(path).catch(() => undefined);
    if (st?.isDirectory()) throw new OcimakeError('DOCKERFILE_NOT_FOUND', `cannot read the Dockerfile at ${path}: it is a directory`, { hint: 'pass -f with the Dockerfile itself' });
    if (st && !st.isFile() && !(opts.allowPipe && st.isFIFO())) {
      throw new OcimakeError('DOCKERFILE_NOT_FOUND', `cannot read the Dockerfile at ${path}: it is not a regular file`, { hint: 'pass -f with a Dockerfile, or -f - to read it from stdin' });
    }
    if (st?.isFile() && st.size > max) throw overLimit('dockerfileSize', `${what} is ${st.size} bytes`, 'a Dockerfile is a few KiB');
    const fh = await fs.open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new OcimakeError('DOCKERFILE_NOT_FOUND', `cannot read the Dockerfile at ${path}: ${err.code ?? err.message}`, { hint: 'pass -f PATH, or put a Dockerfile in the context directory' });
    });
    input = fh.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>;
    close = () => fh.close();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of input) {
      size += c.length;
      if (size > max) throw overLimit('dockerfileSize', `${what} is more than ${max} bytes`, 'a Dockerfile is a few KiB');
      chunks.push(c);
    }
  } finally {
    await close();
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
