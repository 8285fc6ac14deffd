import { createHash } from 'node:crypto';

/** Small helpers for talking raw HTTP to a registry under test. */
export const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function req(base: string, method: string, path: string, opts: { body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Response> {
  const init: RequestInit = { method, headers: opts.headers ?? {}, redirect: 'manual' };
  if (opts.body !== undefined) init.body = opts.body;
  return fetch(new URL(path, base), init);
}

/** Uploads a blob monolithically to `repo`; returns its digest. */
export async function putBlob(base: string, repo: string, data: Buffer | string): Promise<string> {
  const d = sha(data);
  const r = await req(base, 'POST', `/v2/${repo}/blobs/uploads/?digest=${d}`, { body: data, headers: { 'content-type': 'application/octet-stream' } });
  if (r.status !== 201) throw new Error(`blob upload failed: ${r.status} ${await r.text()}`);
  return d;
}

/** Pushes a minimal image (config + one layer) and its manifest under `tag`; returns the manifest digest and bytes. */
export async function putImage(base: string, repo: string, tag: string, extra: Record<string, unknown> = {}): Promise<{ digest: string; bytes: string; config: string; layer: string }> {
  const layerBytes = `layer of ${repo}:${tag}`;
  const layer = await putBlob(base, repo, layerBytes);
  const configBytes = `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["${layer}"]},"n":"${repo}:${tag}"}`;
  const config = await putBlob(base, repo, configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: Buffer.byteLength(configBytes) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: Buffer.byteLength(layerBytes) }],
    ...extra,
  };
  const bytes = JSON.stringify(manifest);
  const r = await req(base, 'PUT', `/v2/${repo}/manifests/${tag}`, { body: bytes, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (r.status !== 201) throw new Error(`manifest put failed: ${r.status} ${await r.text()}`);
  return { digest: sha(bytes), bytes, config, layer };
}

/** The first error code of a spec error body. */
export async function errorCode(r: Response): Promise<string | undefined> {
  const j = (await r.json()) as { errors?: { code: string }[] };
  return j.errors?.[0]?.code;
}
