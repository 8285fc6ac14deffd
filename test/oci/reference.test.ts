import { describe, expect, it } from 'vitest';
import { formatReference, isLoopbackHost, parseReference } from '../../src/oci/reference.js';
import { familiarName } from '../../src/oci/familiar.js';

describe('parseReference', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['acme/app', 'docker.io/acme/app:latest'],
    ['index.docker.io/library/alpine:3', 'docker.io/library/alpine:3'],
    ['registry-1.docker.io/acme/app:1', 'docker.io/acme/app:1'],
    ['ghcr.io/acme/app:1.0', 'ghcr.io/acme/app:1.0'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/a/b/c:v1', '127.0.0.1:5000/a/b/c:v1'],
    ['quay.io/coreos/etcd:v3.3.9', 'quay.io/coreos/etcd:v3.3.9'],
    ['[::1]:5000/x', '[::1]:5000/x:latest'],
  ])('normalises %s', (input, expected) => {
    expect(formatReference(parseReference(input))).toBe(expected);
  });

  it('keeps a digest, alone or with a tag', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseReference(`alpine@${d}`)).toEqual({ registry: 'docker.io', repository: 'library/alpine', digest: d });
    expect(parseReference(`alpine:3@${d}`)).toEqual({ registry: 'docker.io', repository: 'library/alpine', tag: '3', digest: d });
  });

  it.each(['', 'Alpine', 'alpine:', 'a b', 'alpine@sha256:123', 'ghcr.io/acme/app:-bad'])('refuses %j with a hint', (bad) => {
    expect(() => parseReference(bad)).toThrow(/invalid image reference/);
  });

  it('knows loopback hosts', () => {
    expect(isLoopbackHost('localhost:5000')).toBe(true);
    expect(isLoopbackHost('127.0.0.1:35000')).toBe(true);
    expect(isLoopbackHost('127.3.2.1')).toBe(true);
    expect(isLoopbackHost('[::1]:5000')).toBe(true);
    expect(isLoopbackHost('ghcr.io')).toBe(false);
    expect(isLoopbackHost('10.0.0.1:5000')).toBe(false);
  });

  it('gives Docker\'s familiar names', () => {
    expect(familiarName(parseReference('alpine:3'))).toBe('alpine:3');
    expect(familiarName(parseReference('acme/app'))).toBe('acme/app:latest');
    expect(familiarName(parseReference('localhost:5000/app:1'))).toBe('localhost:5000/app:1');
  });
});
