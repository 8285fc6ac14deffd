import { OcimakeError, withContext, withLocation } from '../errors.js';
import type { Image } from '../image/image.js';
import { imageFromManifest, parseConfig, parseIndex, parseManifest } from '../image/from-manifest.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Digest } from '../oci/digest.js';
import { isIndexType } from '../oci/media-types.js';
import type { Descriptor, Platform } from '../oci/schemas.js';
import { fetchBlob, fetchManifest } from './pull.js';
import { formatBytes, LIMITS } from './bounded.js';
import { overLimit } from '../util/limits.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { selectPlatform } from '../oci/select-platform.js';
import { RegistryClient, type TransportOptions } from './transport.js';

/** A pulled image: the Image, the digest of the manifest chosen, and where its blobs live. */
export interface PulledImage {
  image: Image;
  ref: Reference;
  digest: Digest;
  /** The index digest when the reference named an index. */
  indexDigest?: Digest;
  /** How many layer blobs were downloaded (not found in the cache). */
  readonly downloads: () => number;
  /** What the reference itself named (an index or the manifest), as served. */
  top: { bytes: Buffer; mediaType: string; digest: Digest };
  /** The mirror it was pulled from (`host[/path]`), when one answered. */
  mirror?: string;
}

/** Registry clients shared by one build, so tokens are fetched once per registry and scope. */
export class Remote {
  readonly #clients = new Map<string, RegistryClient>();
  readonly opts: TransportOptions;
  constructor(opts: TransportOptions = {}) {
    // A mirror marked insecure (registries.conf, buildkitd.toml) is reached as --insecure-registry hosts are.
    const insecure = [...(opts.mirrors?.values() ?? [])].flat().filter((m) => m.insecure).map((m) => m.host);
    this.opts = insecure.length ? { ...opts, insecureRegistries: [...(opts.insecureRegistries ?? []), ...insecure] } : opts;
  }

  client(registry: string): RegistryClient {
    let c = this.#clients.get(registry);
    if (!c) { c = new RegistryClient(registry, this.opts); this.#clients.set(registry, c); }
    return c;
  }
}

/**
 * Resolves a registry reference to an image for `platform`: fetches the manifest (choosing
 * from an index), the config, and makes layers that download into `store` on first open,
 * verified by digest and size. A second build finds them in the store and downloads nothing.
 */
export async function pullImage(remote: Remote, ref: Reference, platform: Platform, store: BlobStore): Promise<PulledImage> {
  const what = formatReference(ref);
  try {
    const { client, from, fetched: first, mirror } = await firstAnswer(remote, ref);
    let fetched = first;
    const top = fetched;
    let indexDigest: Digest | undefined;
    if (isIndexType(fetched.mediaType) || isIndexJson(fetched.bytes)) {
      const index = parseIndex(fetched.bytes, what);
      indexDigest = fetched.digest;
      const chosen = selectPlatform(index, platform, what);
      fetched = await fetchManifest(client, from, chosen.digest);
      if (isIndexType(fetched.mediaType) || isIndexJson(fetched.bytes)) {
        throw new OcimakeError('MANIFEST_INVALID', `the index of ${what} names another index (${chosen.digest}) for ${chosen.platform?.os ?? '?'}/${chosen.platform?.architecture ?? '?'}, not an image manifest`, {
          hint: 'nested indexes are not followed from a registry (docker and buildah do not either); name the platform\'s manifest by digest',
        });
      }
    }
    const manifest = parseManifest(fetched.bytes, what);
    if (manifest.config.size > LIMITS.config) {
      throw overLimit('configSize', `the config of ${what} is ${formatBytes(manifest.config.size)}`, 'image configs are a few KiB; this image was made to exhaust memory or is broken');
    }
    await fetchBlob(client, from.repository, manifest.config, store);
    const config = parseConfig(await store.readBytes(manifest.config.digest), what);
    let downloads = 0;
    const source = {
      async open(digest: string) {
        const i = manifest.layers.findIndex((l) => l.digest === digest);
        const desc = manifest.layers[i] as Descriptor | undefined;
        if (!desc) throw new OcimakeError('BLOB_UNKNOWN', `${digest} is not a layer of ${what}`);
        if (!(await store.has(digest))) {
          downloads++;
          await withLayerContext(i, what, fetchBlob(client, from.repository, desc, store, config.rootfs.diff_ids[i]));
        }
        return store.open(digest);
      },
      localPath: async (digest: string) => ((await store.has(digest)) ? store.path(digest) : undefined),
      ...(store.entryIndex ? { entryIndex: store.entryIndex } : {}),
    };
    const image = imageFromManifest(manifest, config, source, what);
    return { image, ref, digest: fetched.digest, ...(indexDigest ? { indexDigest } : {}), downloads: () => downloads, top, ...(mirror ? { mirror } : {}) };
  } catch (err) {
    throw withLocation(withContext(`pulling ${what}`, err), { reference: what });
  }
}

/**
 * The first of the registry's mirrors that answers for the reference, else the registry: its
 * client, the reference as that host names it, and what it answered. A mirror that fails
 * (down, 404, refused) is passed over, as containers and BuildKit pass it over.
 */
async function firstAnswer(remote: Remote, ref: Reference): Promise<{ client: RegistryClient; from: Reference; fetched: Awaited<ReturnType<typeof fetchManifest>>; mirror?: string }> {
  for (const m of remote.opts.mirrors?.get(ref.registry) ?? []) {
    const from: Reference = { ...ref, registry: m.host, repository: m.prefix ? `${m.prefix}/${ref.repository}` : ref.repository };
    const client = remote.client(m.host);
    try {
      return { client, from, fetched: await fetchManifest(client, from), mirror: m.prefix ? `${m.host}/${m.prefix}` : m.host };
    } catch (err) {
      remote.opts.onNotice?.(`the mirror ${m.host}${m.prefix ? `/${m.prefix}` : ''} (${m.from}) did not give ${formatReference(ref)}: ${(err as Error).message.split('\n')[0]}; trying the next`);
    }
  }
  const client = remote.client(ref.registry);
  return { client, from: ref, fetched: await fetchManifest(client, ref) };
}

function isIndexJson(bytes: Buffer): boolean {
  try {
    const j = JSON.parse(bytes.toString('utf8')) as { manifests?: unknown; layers?: unknown };
    return Array.isArray(j.manifests) && j.layers === undefined;
  } catch {
    return false;
  }
}

async function withLayerContext(i: number, what: string, p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    throw withContext(`layer ${i + 1} of ${what}`, err);
  }
}
