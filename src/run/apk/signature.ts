import { createPublicKey, verify } from 'node:crypto';
import { OcimakeError } from '../../errors.js';
import type { ApkTarEntry } from './segments.js';

/** Public keys by file name, as in /etc/apk/keys. */
export type KeyRing = ReadonlyMap<string, string>;

/**
 * Checks an apk signature member: `.SIGN.RSA.<key>` (SHA-1) or `.SIGN.RSA256.<key>`
 * (SHA-256), RSA PKCS#1 v1.5 over the compressed bytes of what follows. The key must be one
 * of the stage's /etc/apk/keys. Returns the key's name.
 */
export function verifySignature(sigEntries: readonly ApkTarEntry[], signed: Buffer, keys: KeyRing, what: string): string {
  const tried: string[] = [];
  for (const e of sigEntries) {
    const m = /^\.SIGN\.(RSA|RSA256|RSA512)\.(.+)$/.exec(e.name);
    if (!m) continue;
    const key = keys.get(m[2]!);
    tried.push(m[2]!);
    if (!key) continue;
    const alg = m[1] === 'RSA' ? 'sha1' : m[1] === 'RSA256' ? 'sha256' : 'sha512';
    if (verify(alg, signed, createPublicKey(key), e.data)) return m[2]!;
    throw new OcimakeError('APK_BAD_SIGNATURE', `${what}: the signature by ${m[2]} does not verify`, { hint: 'the file was changed after it was signed, or the key in /etc/apk/keys is not the one that signed it' });
  }
  throw new OcimakeError('APK_UNTRUSTED', tried.length === 0 ? `${what}: not signed` : `${what}: signed by ${tried.join(', ')}, which is not in the stage's /etc/apk/keys`, {
    hint: 'COPY the repository\'s public key into /etc/apk/keys/ before the RUN (or build with --apk-allow-untrusted and apk add --allow-untrusted)',
  });
}
