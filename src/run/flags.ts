import { OcimakeError } from '../errors.js';

/** RUN's flags: cache mounts are kept out of the layer; --network is accepted (nothing runs, so nothing reaches a network). */
export function parseRunFlags(flags: readonly string[]): { cacheTargets: string[] } {
  const cacheTargets: string[] = [];
  for (const f of flags) {
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(f);
    const name = m?.[1];
    if (name === 'network') continue;
    if (name === 'mount') {
      const kv = new Map((m![2] ?? '').split(',').map((p) => { const i = p.indexOf('='); return i < 0 ? [p, 'true'] : [p.slice(0, i), p.slice(i + 1)]; }));
      const type = kv.get('type') ?? 'bind';
      const target = kv.get('target') ?? kv.get('dst') ?? kv.get('destination');
      if ((type === 'cache' || type === 'tmpfs') && target) { cacheTargets.push(target); continue; }
      throw new OcimakeError('RUN_UNSUPPORTED', `RUN --mount=type=${type} is not supported natively`, {
        hint: type === 'cache' || type === 'tmpfs' ? 'give the mount a target: --mount=type=cache,target=/var/cache/apk' : 'only --mount=type=cache and type=tmpfs are accepted; COPY what the command needs instead',
      });
    }
    throw new OcimakeError('RUN_UNSUPPORTED', `RUN ${f.split('=')[0]} is not supported`, { hint: 'RUN accepts --mount=type=cache,target=DIR and --network' });
  }
  return { cacheTargets };
}
