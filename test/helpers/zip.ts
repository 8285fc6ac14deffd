import yazl from 'yazl';

/** A zip member for tests: a file (content, mode), a directory, or a symlink (its target). */
export interface ZipMember { name: string; content?: string; mode?: number; dir?: boolean; link?: string }

/** Writes a zip as Unix zip tools do (modes in the external attributes), with fixed times. */
export async function zipOf(members: ZipMember[]): Promise<Buffer> {
  const z = new yazl.ZipFile();
  const mtime = new Date(Date.UTC(2020, 0, 1));
  for (const m of members) {
    if (m.dir) z.addEmptyDirectory(m.name, { mode: 0o040000 | (m.mode ?? 0o755), mtime });
    else if (m.link !== undefined) z.addBuffer(Buffer.from(m.link), m.name, { mode: 0o120777, mtime, compress: false });
    else z.addBuffer(Buffer.from(m.content ?? ''), m.name, { mode: 0o100000 | (m.mode ?? 0o644), mtime });
  }
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
