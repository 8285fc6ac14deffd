import { describe, expect, it, vi } from 'vitest';
import { main, version } from '../../src/cli/main.js';
import { parseKeyValues, parseOutput } from '../../src/cli/output-spec.js';

function capture(): { out: () => string; err: () => string; restore: () => void } {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err += String(s); return true; });
  return { out: () => out, err: () => err, restore: () => { o.mockRestore(); e.mockRestore(); } };
}

describe('the ocimake command', () => {
  it('prints its version and help with exit code 0', async () => {
    const c = capture();
    try {
      expect(await main(['--version'])).toBe(0);
      expect(await main(['--help'])).toBe(0);
      expect(await main(['build', '--help'])).toBe(0);
    } finally { c.restore(); }
    expect(c.out()).toContain(version());
    expect(c.out()).toMatch(/build \[options\] \[context\]/);
    expect(c.out()).toMatch(/--metadata-file/);
  });

  it('exits non-zero with error and hint lines, and no stack trace', async () => {
    const c = capture();
    let code: number;
    try { code = await main(['build', '/nonexistent/ctx']); } finally { c.restore(); }
    expect(code).toBe(1);
    expect(c.err()).toMatch(/^error: .*\/nonexistent\/ctx/m);
    expect(c.err()).toMatch(/^hint: /m);
    expect(c.err()).not.toMatch(/\n\s+at /);
  });

  it('rejects unknown flags', async () => {
    const c = capture();
    let code: number;
    try { code = await main(['build', '--frobnicate']); } finally { c.restore(); }
    expect(code).not.toBe(0);
    expect(c.err()).toMatch(/unknown option/);
  });
});

describe('--output and key=value flags', () => {
  it('parses buildx output specs', () => {
    expect(parseOutput('type=oci,dest=out')).toEqual({ type: 'oci', dest: 'out', tar: false });
    expect(parseOutput('type=oci,dest=out.tar')).toEqual({ type: 'oci', dest: 'out.tar', tar: true });
    expect(parseOutput('type=oci,dest=out,tar=true')).toEqual({ type: 'oci', dest: 'out', tar: true });
    expect(parseOutput('type=local,dest=rootfs')).toEqual({ type: 'local', dest: 'rootfs' });
    expect(parseOutput('type=docker,dest=a.tar')).toEqual({ type: 'docker', dest: 'a.tar' });
    expect(parseOutput('type=registry')).toEqual({ type: 'registry' });
    expect(parseOutput('type=image,push=true,name=x/y:1')).toEqual({ type: 'registry', name: 'x/y:1' });
    expect(() => parseOutput('type=oci')).toThrow(/dest=DIR/);
    expect(() => parseOutput('type=weird,dest=x')).toThrow(/not supported/);
    expect(parseOutput('./out')).toEqual({ type: 'local', dest: './out' });
  });
  it('parses --build-arg, taking bare names from the environment', () => {
    expect(parseKeyValues('--build-arg', ['A=1', 'B=x=y', 'FROM_ENV', 'MISSING'], { FROM_ENV: 'e' })).toEqual({ A: '1', B: 'x=y', FROM_ENV: 'e' });
    expect(() => parseKeyValues('--build-arg', ['=v'])).toThrow(/has no name/);
  });
});
