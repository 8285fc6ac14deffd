import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { OcimakeError } from '../errors.js';
import { parseReference } from '../oci/reference.js';

/**
 * `--build-context NAME=VALUE`, as buildx takes it: `FROM NAME` and `COPY --from=NAME` get
 * this image or directory instead of the image (or stage) of that name.
 */
export type NamedContext =
  | { kind: 'image'; spec: string; given: string }
  | { kind: 'dir'; path: string; given: string };

const FLAG = '--build-context';

/** Parses one `NAME=VALUE`; refuses the forms ocimake cannot honour, with what to do instead. */
export function parseBuildContext(arg: string): [string, NamedContext] {
  const eq = arg.indexOf('=');
  const name = arg.slice(0, eq).trim().toLowerCase();
  const value = arg.slice(eq + 1).trim();
  if (eq <= 0 || value === '') throw new OcimakeError('FLAG_INVALID', `${FLAG} ${arg}: expected NAME=VALUE`, { hint: 'e.g. --build-context base=docker-image://alpine:3.20, --build-context src=../src or --build-context img=oci-layout://./layout:1' });
  if (value.startsWith('docker-image://')) {
    const ref = value.slice('docker-image://'.length);
    parseReference(ref);
    return [name, { kind: 'image', spec: ref, given: value }];
  }
  if (value.startsWith('oci-layout://')) {
    const rest = value.slice('oci-layout://'.length);
    if (rest.includes('@')) throw new OcimakeError('FLAG_INVALID', `${FLAG} ${arg}: ocimake picks an image in an OCI layout by tag, not by digest`, { hint: `write oci-layout://DIR:TAG` });
    return [name, { kind: 'image', spec: `oci:${rest}`, given: value }];
  }
  if (value.startsWith('target:')) throw new OcimakeError('FLAG_UNSUPPORTED', `${FLAG} ${arg}: target: contexts come from buildx bake, which ocimake does not have`, { hint: 'build that target first (-o type=oci,dest=DIR) and pass oci-layout://DIR' });
  if (/^(https?|git|ssh):\/\//.test(value) || value.startsWith('git@')) throw new OcimakeError('FLAG_UNSUPPORTED', `${FLAG} ${arg}: ocimake does not fetch contexts from URLs or git`, { hint: 'clone or download it first and pass the directory' });
  const path = resolve(value);
  let isDir = false;
  try { isDir = statSync(path).isDirectory(); } catch { /* reported below */ }
  if (!isDir) throw new OcimakeError('FLAG_INVALID', `${FLAG} ${arg}: ${value} is not a directory`, { hint: 'give a directory, docker-image://REF or oci-layout://DIR[:TAG]' });
  return [name, { kind: 'dir', path, given: value }];
}

export function parseBuildContexts(args: readonly string[]): Map<string, NamedContext> {
  const out = new Map<string, NamedContext>();
  for (const a of args) {
    const [name, c] = parseBuildContext(a);
    if (out.has(name)) throw new OcimakeError('FLAG_INVALID', `${FLAG} ${name} is given twice`);
    out.set(name, c);
  }
  return out;
}
