import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alpineLayout } from '../helpers/alpine-images.js';
import { buildFrom, flatten } from '../helpers/build.js';
import { tempDir } from '../helpers/tmp.js';

// Issue 27 §1: a native RUN is bounded, and a bound is fatal: never a status a script can
// ignore (an outer loop going on), never a loop cut short with exit 0 and a wrong image.
// The limits are lowered here so each probe takes milliseconds; the defaults are the same code.

let base: string;
beforeAll(() => { base = `oci:${alpineLayout(join(tempDir(), 'alpine')).dir}:3`; });
const build = (lines: string) => buildFrom(`FROM ${base}\n${lines}\n`, {}, { isolation: 'native' });

const saved = { ...process.env };
afterEach(() => {
  for (const k of ['OCIMAKE_MAX_RUN_LOOP_ITERATIONS', 'OCIMAKE_MAX_RUN_FUNCTION_DEPTH', 'OCIMAKE_MAX_RUN_STRING_SIZE', 'OCIMAKE_MAX_RUN_FILE_SIZE', 'OCIMAKE_MAX_PATH_DEPTH']) {
    if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
  }
});

describe('native RUN bounds', () => {
  it('a loop past the limit fails the build, naming the limit; it is not cut short with exit 0', async () => {
    process.env.OCIMAKE_MAX_RUN_LOOP_ITERATIONS = '50';
    // Before: /count held the capped count and the build succeeded.
    await expect(build('RUN i=0; while [ $i -lt 55 ]; do i=$((i+1)); done; echo $i > /count')).rejects.toThrow(/runLoopIterations.*OCIMAKE_MAX_RUN_LOOP_ITERATIONS|past the limit runLoopIterations/s);
  });

  it('a loop within the limit runs to its end', async () => {
    process.env.OCIMAKE_MAX_RUN_LOOP_ITERATIONS = '50';
    const r = await build('RUN i=0; while [ $i -lt 40 ]; do i=$((i+1)); done; echo $i > /count');
    expect(flatten(r.layers.slice(1)).get('count')?.content).toBe('40\n');
  });

  it('nested loops share one budget: the inner loop\'s limit is not a status the outer ignores', async () => {
    process.env.OCIMAKE_MAX_RUN_LOOP_ITERATIONS = '100';
    await expect(build('RUN while true; do while true; do :; done; done')).rejects.toThrow(/past the limit runLoopIterations/);
    // 10 × 11 iterations in all: past 100 though each loop alone is within it.
    await expect(build('RUN i=0; while [ $i -lt 10 ]; do i=$((i+1)); j=0; while [ $j -lt 10 ]; do j=$((j+1)); done; done')).rejects.toThrow(/past the limit runLoopIterations/);
  });

  it('a function that calls itself without end fails at the depth limit', async () => {
    process.env.OCIMAKE_MAX_RUN_FUNCTION_DEPTH = '30';
    await expect(build('RUN f(){ f; }; f')).rejects.toThrow(/past the limit runFunctionDepth/);
    const r = await build('RUN g(){ echo deep > /deep; }; f(){ g; }; f');
    expect(flatten(r.layers.slice(1)).get('deep')?.content).toBe('deep\n');
  });

  it('pattern removal and replacement do not backtrack (13 stars against 40 a\'s ended never before)', async () => {
    const stars = `${'*a'.repeat(12)}*b`;
    const r = await build(`RUN x=${'a'.repeat(40)}; echo "\${x#${stars}}|\${x%%${stars}}|\${x/${stars}/z}|\${x//a/b}" > /out; case $x in ${stars}) echo hit >> /out;; esac`);
    expect(flatten(r.layers.slice(1)).get('out')?.content).toBe(`${'a'.repeat(40)}|${'a'.repeat(40)}|${'a'.repeat(40)}|${'b'.repeat(40)}\n`);
  });

  it('grep and sed patterns that backtrack exponentially end (V8\'s linear engine takes over), -i and -w included', async () => {
    const a40 = 'a'.repeat(40);
    const r = await build([
      `RUN echo ${a40} > /in; (grep -E '(a*)*b' /in || echo none) > /out; (grep -iE '(A*)*B' /in || echo none) >> /out`,
      `RUN (grep -wE '(a*)*b' /in || echo none) >> /out; grep -c '\\(a*\\)*' /in >> /out; sed -E 's/(a*)*b/X/' /in >> /out`,
      `RUN echo 'ab12 CD' | grep -qE '[[:digit:]]{2}' && echo ere-class >> /out; echo 'x Word y' | grep -iw 'word' >> /out`,
    ].join('\n'));
    expect(flatten(r.layers.slice(1)).get('out')?.content).toBe(`none\nnone\nnone\n1\n${a40}\nere-class\nx Word y\n`);
  });

  it('a value that doubles without end fails at runStringSize, not with a raw "Invalid string length"', async () => {
    process.env.OCIMAKE_MAX_RUN_STRING_SIZE = '64KiB';
    // Before: 31 doublings died with "RUN: Invalid string length".
    await expect(build('RUN x=a; i=0; while [ $i -lt 31 ]; do x=$x$x; i=$((i+1)); done')).rejects.toThrow(/word expanded to more than 65536 characters: past the limit runStringSize \(64 KiB\)/);
    await expect(build('RUN x=a; i=0; while [ $i -lt 16 ]; do x=$x$x; i=$((i+1)); done; echo $x > /big; y=$(cat /big)')).rejects.toThrow(/command substitution held more than 65536 bytes: past the limit runStringSize/);
    const r = await build('RUN x=a; i=0; while [ $i -lt 15 ]; do x=$x$x; i=$((i+1)); done; echo ${#x} > /len');
    expect(flatten(r.layers.slice(1)).get('len')?.content).toBe('32768\n');
  });

  it('a file, a redirection or a pipe that doubles without end fails at runFileSize', async () => {
    process.env.OCIMAKE_MAX_RUN_FILE_SIZE = '64KiB';
    // Before: 40 doublings held 8 GB and died in Buffer.concat after a minute.
    const doubling = (step: string) => `RUN i=0; echo a > /f; while [ $i -lt 40 ]; do ${step}; mv /g /f; i=$((i+1)); done`;
    await expect(build(doubling('cat /f /f > /g'))).rejects.toThrow(/Dockerfile:2: RUN: the redirection to \/g held more than 65536 bytes: past the limit runFileSize \(64 KiB\)/);
    await expect(build(doubling('cat /f /f | cat > /g'))).rejects.toThrow(/a pipe held more than 65536 bytes: past the limit runFileSize/);
    await expect(build('RUN i=0; echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa > /f; while [ $i -lt 2000 ]; do cat /f >> /g; i=$((i+1)); done')).rejects.toThrow(/\/g would be larger than 65536 bytes: past the limit runFileSize/);
  });

  it('a path past pathLength is "File name too long" in the RUN, as on Linux; a deep one within it builds and reads back', async () => {
    const deep = (n: number) => `d=$(i=0; p=/d; while [ $i -lt ${n} ]; do p=$p/d; i=$((i+1)); done; echo $p)`;
    // Before: 2,100 levels built with exit 0 (and took 26 s), and ocimake refused the image it had made.
    // The limits are lowered (as a tenth of the defaults' 4096 bytes and 2048 levels), so the test costs a second, not a minute.
    process.env.OCIMAKE_MAX_PATH_LENGTH = '410';
    process.env.OCIMAKE_MAX_PATH_DEPTH = '205';
    await expect(build(`RUN ${deep(210)}; mkdir -p $d`)).rejects.toThrow(/exit code: 1\n.*File name too long/);
    const r = await buildFrom(`FROM ${base} AS deep\nRUN ${deep(200)}; mkdir -p $d\nFROM deep\nRUN ${deep(200)}; test -d $d && echo yes > /ok\n`, {}, { isolation: 'native' });
    expect(flatten(r.layers.slice(1)).get('ok')?.content).toBe('yes\n');
  });

  it('a layer that could not be read back is not written', async () => {
    process.env.OCIMAKE_MAX_PATH_DEPTH = '20';
    await expect(build('RUN mkdir -p /a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w')).rejects.toThrow(/the new layer: entry "a\/b\/c.*goes 2[12] directories down: past the limit pathDepth \(20\)/);
  });

  it('an awk loop that does not end fails at runLoopIterations; so does awk recursion at runFunctionDepth', async () => {
    process.env.OCIMAKE_MAX_RUN_LOOP_ITERATIONS = '1000';
    await expect(build("RUN awk 'BEGIN { while (1) x++ }'")).rejects.toThrow(/awk ran more than 1000 loop iterations and records in all: past the limit runLoopIterations/);
    process.env.OCIMAKE_MAX_RUN_FUNCTION_DEPTH = '50';
    await expect(build("RUN awk 'function f(n) { return f(n + 1) } BEGIN { f(1) }'")).rejects.toThrow(/past the limit runFunctionDepth/);
  });
});
