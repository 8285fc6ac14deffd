import { createHash } from 'node:crypto';
import { OcimakeError } from '../../errors.js';
import { CONTROL_MAX, gzipMember, gzipMembersFrom, readTarBuffer, signatureMember, type ApkTarEntry } from './segments.js';
import { verifySignature, type KeyRing } from './signature.js';

/** A verified .apk: its .PKGINFO, install scripts, and data entries. */
export interface OpenedPackage {
  info: Map<string, string[]>;
  /** Scripts by their name in the control member (".post-install", ".trigger", ...). */
  scripts: Map<string, ApkTarEntry>;
  files: ApkTarEntry[];
  /** "Q1" + base64 SHA-1 of the control member: the index's and the installed database's C: field. */
  checksum: string;
  signer: string | undefined;
}

export const q1 = (b: Buffer): string => `Q1${createHash('sha1').update(b).digest('base64')}`;

/**
 * Opens an apk v2 package and checks it end to end: the control member's checksum against
 * the index (`C:`), the signature over the control member against the stage's keys, and the
 * data member against `datahash` in .PKGINFO.
 */
export async function openPackage(file: Buffer, keys: KeyRing, what: string, want: { checksum?: string; size?: number } = {}, untrusted = false): Promise<OpenedPackage> {
  if (want.size !== undefined && want.size !== file.length) {
    throw new OcimakeError('APK_CHECKSUM', `${what}: ${file.length} bytes, the index says ${want.size}`, { hint: 'the mirror serves a different file than its index names; try again or use another mirror' });
  }
  // Member by member, each checked before the next is inflated: the signature, then the
  // control member against the index's checksum and the signature, then the data's datahash
  // over its compressed bytes; only then is the data inflated.
  const notApk = () => new OcimakeError('APK_INVALID', `${what}: not an apk v2 package (expected signature, control and data gzip members)`);
  if (file.length === 0) throw notApk();
  const sig = await signatureMember(file, what);
  const first = sig?.entries ?? [];
  const signed = sig !== undefined;
  const control = gzipMember(file, sig?.member.end ?? 0, what, CONTROL_MAX, 'control member');
  if (control.end >= file.length) throw notApk();
  const data = { start: control.end };
  const controlBytes = file.subarray(control.start, control.end);
  const checksum = q1(controlBytes);
  if (want.checksum && want.checksum !== checksum) {
    throw new OcimakeError('APK_CHECKSUM', `${what}: checksum ${checksum} does not match the index (${want.checksum})`, { hint: 'the package changed after the index was signed: the mirror is out of date or the file was tampered with' });
  }
  let signer: string | undefined;
  if (signed && (!untrusted || first.some((e) => keys.has(e.name.replace(/^\.SIGN\.RSA\d*\./, ''))))) signer = verifySignature(first, controlBytes, keys, what);
  else if (!signed && !untrusted && !want.checksum) verifySignature([], controlBytes, keys, what);
  const controlEntries = await readTarBuffer(control.data, what);
  const pkginfo = controlEntries.find((e) => e.name === '.PKGINFO');
  if (!pkginfo) throw new OcimakeError('APK_INVALID', `${what}: no .PKGINFO`);
  const info = new Map<string, string[]>();
  for (const line of pkginfo.data.toString('utf8').split('\n')) {
    const m = /^([a-z_]+) = (.*)$/.exec(line);
    if (m) info.set(m[1]!, [...(info.get(m[1]!) ?? []), m[2]!]);
  }
  const datahash = info.get('datahash')?.[0];
  if (datahash !== undefined) {
    const got = createHash('sha256').update(file.subarray(data.start, file.length)).digest('hex');
    if (got !== datahash) throw new OcimakeError('APK_CHECKSUM', `${what}: the data does not match its datahash`, { hint: 'the package is corrupt or was tampered with' });
  } else if (!untrusted) {
    throw new OcimakeError('APK_INVALID', `${what}: .PKGINFO has no datahash, so its files cannot be checked`);
  }
  const scripts = new Map(controlEntries.filter((e) => e.name.startsWith('.') && e.name !== '.PKGINFO').map((e) => [e.name, e] as const));
  const files = await readTarBuffer(Buffer.concat(gzipMembersFrom(file, data.start, what).map((m) => m.data)), what);
  return { info, scripts, files, checksum, signer };
}
