import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/oci/canonical-json.js';
import { isDigest, parseDigest, sha256 } from '../../src/oci/digest.js';
import { ImageConfigSchema, ManifestSchema } from '../../src/oci/schemas.js';
import { normalizePlatform, parsePlatform, platformMatches } from '../../src/oci/platform.js';

describe('canonical JSON', () => {
  it('gives the same bytes (and digest) whatever the key order', () => {
    const a = { b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } };
    const b = { a: { c: 'x', d: [3, { y: 2, z: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(sha256(canonicalJson(a))).toBe(sha256(canonicalJson(b)));
    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });
  it('drops undefined members', () => {
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
  });
});

describe('digests', () => {
  it('accepts sha256 and sha512 and refuses the rest', () => {
    expect(isDigest(sha256('x'))).toBe(true);
    expect(isDigest(`sha512:${'a'.repeat(128)}`)).toBe(true);
    expect(isDigest('sha256:ABC')).toBe(false);
    expect(() => parseDigest('md5:abc')).toThrow(/invalid digest/);
  });
});

describe('schemas', () => {
  it('validates a manifest and refuses a bad digest', () => {
    const m = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'x', digest: sha256('c'), size: 1 }, layers: [] };
    expect(ManifestSchema.safeParse(m).success).toBe(true);
    expect(ManifestSchema.safeParse({ ...m, config: { ...m.config, digest: 'sha256:zz' } }).success).toBe(false);
  });
  it('validates a config with history and diff_ids', () => {
    const c = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256('l')] }, history: [{ created_by: 'COPY x /x' }] };
    expect(ImageConfigSchema.parse(c).rootfs.diff_ids).toHaveLength(1);
  });
});

describe('platforms', () => {
  it('parses and normalises with Docker\'s variant rules', () => {
    expect(parsePlatform('linux/arm64')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(normalizePlatform({ os: 'linux', architecture: 'x86_64' })).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, parsePlatform('linux/arm64/v8'))).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, parsePlatform('linux/arm/v7'))).toBe(false);
    expect(() => parsePlatform('linux')).toThrow(/invalid platform/);
  });
});
