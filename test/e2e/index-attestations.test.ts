import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../registry/index.js';
import { main } from '../../src/cli/main.js';
import { Remote } from '../../src/remote/registry-image.js';
import { openImage } from '../../src/source/open.js';
import { Cache } from '../../src/store/cache.js';
import { captured } from '../helpers/capture.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

// Issue 28: --provenance and --sbom without --sign work as buildx's: unsigned in-toto statements
// in an attestation manifest beside each image in the index (platform unknown/unknown,
// vnd.docker.reference.type attestation-manifest, vnd.docker.reference.digest the image).

interface Entry { digest: string; mediaType: string; platform: { os: string; architecture: string }; annotations?: Record<string, string> }

describe('unsigned attestations in the image index', () => {
  let reg: RunningRegistry;
  let work: string;
  beforeAll(async () => { reg = await startRegistry(); work = tempDir(); });
  afterAll(async () => reg?.close());
  const get = async (repo: string, ref: string, accept: string) => (await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, { headers: { accept } })).json();
  const blob = async (repo: string, digest: string) => Buffer.from(await (await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`)).arrayBuffer());

  it('a single-platform push with --provenance=mode=max --sbom is an index of the image and its attestation manifest', async () => {
    const ctx = writeTree(join(work, 'one'), { Dockerfile: 'FROM scratch\nCOPY app /app\n', app: 'app' });
    const r = await captured(() => main(['build', ctx, '-t', `${reg.host}/acme/att:1`, '--push', '--provenance=mode=max', '--sbom', '--progress=quiet', '--cache-dir', join(work, 'cache')]));
    expect(r.value, r.stderr).toBe(0);
    const index = await get('acme/att', '1', 'application/vnd.oci.image.index.v1+json') as { manifests: Entry[] };
    expect(index.manifests).toHaveLength(2);
    const [image, att] = index.manifests as [Entry, Entry];
    expect(image.platform).toMatchObject({ os: 'linux' });
    expect(att.platform).toEqual({ architecture: 'unknown', os: 'unknown' });
    expect(att.annotations).toEqual({ 'vnd.docker.reference.digest': image.digest, 'vnd.docker.reference.type': 'attestation-manifest' });
    const manifest = await get('acme/att', att.digest, att.mediaType) as { layers: { digest: string; mediaType: string; annotations: Record<string, string> }[] };
    expect(manifest.layers.map((l) => [l.mediaType, l.annotations['in-toto.io/predicate-type']])).toEqual([
      ['application/vnd.in-toto+json', 'https://slsa.dev/provenance/v1'],
      ['application/vnd.in-toto+json', 'https://cyclonedx.org/bom'],
    ]);
    const statement = JSON.parse((await blob('acme/att', manifest.layers[0]!.digest)).toString('utf8')) as { subject: { digest: { sha256: string } }[]; predicate: { buildDefinition: unknown } };
    expect(`sha256:${statement.subject[0]!.digest.sha256}`).toBe(image.digest);
    expect(statement.predicate.buildDefinition).toBeDefined();
    // A pull for the platform still finds the image.
    const o = await openImage(`${reg.host}/acme/att:1`, { remote: new Remote(), platform: { os: image.platform.os, architecture: image.platform.architecture }, store: Cache.at(join(work, 'pull')).blobs });
    expect(o.digest).toBe(image.digest);
  });

  it('a multi-platform build gets one attestation per platform; a docker archive cannot hold them', async () => {
    const ctx = writeTree(join(work, 'two'), { Dockerfile: 'FROM scratch\nCOPY app /app\n', app: 'app' });
    const r = await captured(() => main(['build', ctx, '-t', `${reg.host}/acme/att2:1`, '--push', '--platform', 'linux/amd64,linux/arm64', '--provenance', '--progress=quiet', '--cache-dir', join(work, 'cache')]));
    expect(r.value, r.stderr).toBe(0);
    const index = await get('acme/att2', '1', 'application/vnd.oci.image.index.v1+json') as { manifests: Entry[] };
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64', 'unknown', 'unknown']);
    expect(index.manifests.slice(2).map((m) => m.annotations!['vnd.docker.reference.digest'])).toEqual(index.manifests.slice(0, 2).map((m) => m.digest));
    const docker = await captured(() => main(['build', ctx, '--provenance', '-o', `type=docker,dest=${join(work, 'x.tar')}`, '-o', `type=oci,dest=${join(work, 'layout')}`, '--progress=quiet', '--cache-dir', join(work, 'cache')]));
    expect(docker.stderr).toContain('cannot hold the image index that --provenance and --sbom need');
  });
});
