import { OcimakeError } from '../errors.js';

// OCI whiteouts: https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** What a layer path means for the merged filesystem. */
export type WhiteoutKind =
  | { kind: 'none' }
  | { kind: 'whiteout'; target: string }
  | { kind: 'opaque'; dir: string };

/** Classifies a normalised layer path: a plain entry, a whiteout of `target`, or an opaque marker of `dir`. */
export function classifyWhiteout(path: string): WhiteoutKind {
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (base === OPAQUE_WHITEOUT) return { kind: 'opaque', dir };
  if (base.startsWith(WHITEOUT_PREFIX)) {
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') {
      throw new OcimakeError('LAYER_UNSAFE', `the whiteout "${path}" names "${name}", which is not an entry`, { hint: 'the layer is malformed or hostile; it is refused' });
    }
    return { kind: 'whiteout', target: dir === '' ? name : `${dir}/${name}` };
  }
  return { kind: 'none' };
}
