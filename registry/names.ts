import { RegistryError } from './errors.js';

// Grammar of the distribution spec: https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests

const NAME = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** Throws NAME_INVALID unless `name` is a valid repository name. */
export function checkName(name: string): string {
  if (name.length > 255 || !NAME.test(name)) throw new RegistryError('NAME_INVALID', `invalid repository name "${name}"`);
  return name;
}

export function isTag(s: string): boolean {
  return TAG.test(s);
}

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}

/** Throws DIGEST_INVALID unless `d` is a supported digest. */
export function checkDigest(d: string): string {
  if (!isDigest(d)) throw new RegistryError('DIGEST_INVALID', `invalid digest "${d}"`);
  return d;
}
