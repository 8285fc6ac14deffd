import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSecret } from '../../src/builder/run-mounts.js';
import { resolveInTree } from '../../src/run/exec/mounts.js';
import { parseRunFlags } from '../../src/run/flags.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 26, item 4: RUN's --mount flags as BuildKit spells them, buildx's --secret, and where a
// mount's target lands in the stage's tree.

describe('RUN --mount', () => {
  it('parses cache, tmpfs, bind and secret mounts; bind and secret only for an executed RUN', () => {
    const flags = ['--mount=type=cache,target=/root/.cache/go-build,id=gocache,mode=0755', '--mount=type=tmpfs,target=/tmp', '--mount=source=go.mod,target=go.mod', '--mount=type=bind,from=builder,src=/out,dst=/in,rw', '--mount=type=secret,id=npmrc,target=/root/.npmrc,required', '--mount=type=secret,id=tok,env=TOKEN', '--network=none'];
    expect(parseRunFlags(flags, true).mounts).toEqual([
      { type: 'cache', target: '/root/.cache/go-build', id: 'gocache', mode: 0o755 },
      { type: 'tmpfs', target: '/tmp' },
      { type: 'bind', target: 'go.mod', source: 'go.mod', rw: false },
      { type: 'bind', target: '/in', source: '/out', from: 'builder', rw: true },
      { type: 'secret', id: 'npmrc', target: '/root/.npmrc', required: true },
      { type: 'secret', id: 'tok', target: '', env: 'TOKEN', required: false },
    ]);
    expect(parseRunFlags(['--mount=type=cache,target=/var/cache/apk']).cacheTargets).toEqual(['/var/cache/apk']);
    expect(parseRunFlags(['--network=none']).network).toBe('none');
    expect(() => parseRunFlags(['--network=bridge'])).toThrow(/--network=bridge is not known/);
    expect(parseRunFlags(['--mount=type=bind,source=a,target=/a']).binds).toEqual([{ type: 'bind', source: 'a', target: '/a', rw: false }]);
    expect(() => parseRunFlags(['--mount=type=secret,id=x'])).toThrow(/--mount=type=secret is not supported natively/);
    expect(parseRunFlags(['--mount=type=ssh', '--mount=type=ssh,id=work,target=/agent,required'], true).mounts).toEqual([
      { type: 'ssh', id: 'default', target: '/run/buildkit/ssh_agent.0', required: false },
      { type: 'ssh', id: 'work', target: '/agent', required: true },
    ]);
    expect(() => parseRunFlags(['--mount=type=ssh'])).toThrow(/--mount=type=ssh is not supported natively/);
    expect(() => parseRunFlags(['--mount=type=npipe'], true)).toThrow(/--mount=type=npipe is not supported/);
  });

  it('takes buildx\'s --secret, from a file or a variable', () => {
    expect(parseSecret('id=npmrc,src=/home/me/.npmrc')).toEqual(['npmrc', { src: '/home/me/.npmrc' }]);
    expect(parseSecret('id=token,env=GITHUB_TOKEN')).toEqual(['token', { env: 'GITHUB_TOKEN' }]);
    expect(parseSecret('type=env,id=TOKEN')).toEqual(['TOKEN', { env: 'TOKEN' }]);
    expect(() => parseSecret('src=/x')).toThrow(/needs id=/);
  });

  it('resolves a target through the tree\'s own symlinks, never the host\'s', () => {
    const root = tempDir();
    mkdirSync(join(root, 'etc'));
    symlinkSync('/etc', join(root, 'run'));
    symlinkSync('../../../../..', join(root, 'up'));
    expect(resolveInTree(root, '/run/secrets/tok')).toBe('etc/secrets/tok');
    expect(resolveInTree(root, '/up/etc/passwd')).toBe('etc/passwd');
    expect(resolveInTree(root, 'rel/../x')).toBe('x');
  });
});
