import type { Command } from 'commander';
import { OcimakeError } from '../errors.js';
import { parseReference } from '../oci/reference.js';
import { addNetworkFlags, transportFrom, type NetworkFlags } from './network-flags.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** Registers `ocimake imagetools create` and `ocimake imagetools inspect`, as `docker buildx imagetools`. */
export function registerImagetools(program: Command): void {
  const tools = program.command('imagetools').description('images in registries, without pulling them: join platform images into an index (a CI matrix\'s last step), inspect');
  addNetworkFlags(tools
    .command('create')
    .description('make one index of SOURCE images (by tag or digest; indexes are merged) and push it under each -t; what another repository lacks is copied by digest, with its referrers')
    .argument('<source...>', 'images or indexes, e.g. ghcr.io/acme/app@sha256:…')
    .option('-t, --tag <ref>', 'where the index goes (repeatable)', collect, [])
    .option('--annotation <key=value>', 'an annotation on the index (index: prefix accepted; repeatable)', collect, [])
    .option('--dry-run', 'print the index and push nothing'))
    .action(async (sources: string[], o: { tag: string[]; annotation: string[]; dryRun?: boolean } & NetworkFlags) => {
      if (o.tag.length === 0 && !o.dryRun) throw new OcimakeError('FLAG_INVALID', 'imagetools create needs -t REF (or --dry-run)', { hint: 'e.g. ocimake imagetools create -t ghcr.io/acme/app:1.0 ghcr.io/acme/app@sha256:…' });
      const annotations: Record<string, string> = {};
      for (const a of o.annotation) {
        const m = /^(?:index:)?([^=]+)=(.*)$/.exec(a);
        if (!m) throw new OcimakeError('FLAG_INVALID', `--annotation ${a}: not KEY=VALUE`, { hint: 'e.g. --annotation org.opencontainers.image.source=https://github.com/acme/app' });
        annotations[m[1]!] = m[2]!;
      }
      const [{ createIndex }, { Remote }] = await Promise.all([import('../source/imagetools.js'), import('../remote/registry-image.js')]);
      const r = await createIndex(new Remote(transportFrom(o, (m) => process.stderr.write(`${m}\n`))), sources.map((s) => parseReference(s)), o.tag.map((t) => parseReference(t)), { ...(o.dryRun ? { dryRun: true } : {}), annotations });
      if (o.dryRun) process.stdout.write(`${JSON.stringify(r.index, null, 2)}\n`);
      else process.stdout.write(`${r.digest}\n`);
    });
  addNetworkFlags(tools
    .command('inspect')
    .description('what a reference names, as served: an index with its platforms, or a manifest (--raw: the bytes)')
    .argument('<image>')
    .option('--raw', 'print the manifest or index as served'))
    .action(async (image: string, o: { raw?: boolean } & NetworkFlags) => {
      const [{ fetchManifest }, { Remote }] = await Promise.all([import('../remote/pull.js'), import('../remote/registry-image.js')]);
      const ref = parseReference(image);
      const m = await fetchManifest(new Remote(transportFrom(o, (n) => process.stderr.write(`${n}\n`))).client(ref.registry), ref);
      if (o.raw) { process.stdout.write(`${m.bytes.toString('utf8')}\n`); return; }
      const j = JSON.parse(m.bytes.toString('utf8')) as { manifests?: { digest: string; platform?: { os: string; architecture: string; variant?: string }; annotations?: Record<string, string> }[] };
      process.stdout.write(`Name:      ${image}\nMediaType: ${m.mediaType}\nDigest:    ${m.digest}\n`);
      for (const d of j.manifests ?? []) {
        const p = d.platform ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}` : 'unknown';
        process.stdout.write(`  ${d.digest}  ${d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ? 'attestation' : p}\n`);
      }
    });
}
