import { describe, expect, it } from 'vitest';
import type { BuildProgress } from '../../src/builder/build.js';
import type { Instruction } from '../../src/dockerfile/instructions.js';
import type { Stage } from '../../src/dockerfile/stages.js';
import { Progress, type ProgressMode } from '../../src/cli/progress.js';

// Issue 14, "progress, as BuildKit shows it": times per step, layer sizes, byte counts and
// rates, the platform on each line, nothing cut off, and JSON lines for machines.

function sink(columns: number | undefined, isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { text: '', columns, isTTY, write(chunk: string) { s.text += chunk; return true; } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

const inst = (original: string) => ({ kind: 'copy', line: 2, original } as unknown as Instruction);
const stage = { index: 0, name: 'builder', from: { image: 'golang:1.22', line: 1 }, instructions: [inst('COPY . .'), inst('COPY go.mod .')] } as unknown as Stage;

function drive(mode: ProgressMode, out: NodeJS.WriteStream, multiPlatform = false): void {
  let t = 1_000_000;
  const p = new Progress(mode, out, { multiPlatform, now: () => t });
  const ev = (e: BuildProgress) => p.build(e);
  ev({ kind: 'stage', stage, total: 1, platform: 'linux/arm64' });
  p.transfer({ direction: 'pull', registry: 'docker.io', repository: 'library/golang', digest: `sha256:${'ab'.repeat(32)}`, bytes: 21_000_000, ms: 800 });
  t += 1200;
  ev({ kind: 'from', stage, platform: 'linux/arm64', name: `docker.io/library/golang:1.22@sha256:${'cd'.repeat(32)}` });
  ev({ kind: 'step', stage, inst: stage.instructions[0]!, index: 0, platform: 'linux/arm64' });
  p.runOutput('compiling');
  t += 340;
  ev({ kind: 'step-done', stage, index: 0, platform: 'linux/arm64', layerBytes: 1_234_567 });
  p.push({ kind: 'blob-uploaded', digest: `sha256:${'ef'.repeat(32)}`, size: 4_000_000, ms: 500 });
  p.push({ kind: 'blob-exists', digest: `sha256:${'ab'.repeat(32)}`, size: 21_000_000 });
  p.done(`built sha256:${'12'.repeat(32)} (registry.example.com/a-long-name/app:1.0)`);
}

describe('progress', () => {
  it('plain: numbered steps with their time, the resolved FROM, layer sizes and transfer rates', () => {
    const out = sink(undefined, false);
    drive('plain', out);
    expect(out.text.split('\n')).toEqual([
      `#2 [pull] docker.io/library/golang abababababab: 21.0 MB in 0.8s (26.3 MB/s)`,
      `#1 [builder 1/3] FROM docker.io/library/golang:1.22@sha256:${'cd'.repeat(32)}`,
      '#1 DONE 1.2s',
      '#3 [builder 2/3] COPY . .',
      '#3 0.000 compiling',
      '#3 DONE 0.3s (layer 1.23 MB)',
      '#4 [push] efefefefefef: uploaded 4.00 MB in 0.5s (8.00 MB/s)',
      '#5 [push] abababababab: already exists',
      `built sha256:${'12'.repeat(32)} (registry.example.com/a-long-name/app:1.0)`,
      '',
    ]);
  });

  it('names the platform on every step of a multi-platform build', () => {
    const out = sink(undefined, false);
    drive('plain', out, true);
    expect(out.text).toContain('#1 [linux/arm64 builder 1/3] FROM');
    expect(out.text).toContain('#3 [linux/arm64 builder 2/3] COPY . .');
  });

  it('tty: keeps finished steps whole, and on a zero-width terminal cuts nothing', () => {
    for (const cols of [0, 40]) {
      const out = sink(cols, true);
      drive('tty', out);
      const kept = out.text.split('\n').map((l) => l.replace(new RegExp(`^[\\s\\S]*\r${String.fromCharCode(27)}\\[2K`), ''));
      expect(kept).toContain(`built sha256:${'12'.repeat(32)} (registry.example.com/a-long-name/app:1.0)`);
      expect(kept).toContain('=> [builder 2/3] COPY . . (layer 1.23 MB)  0.3s');
      expect(kept).toContain(`=> [builder 1/3] FROM docker.io/library/golang:1.22@sha256:${'cd'.repeat(32)}  1.2s`);
    }
  });

  it('tty: BuildKit\'s [+] Building header with the steps done, the bytes moving while a transfer runs, FINISHED at the end', () => {
    let t = 1_000_000;
    const out = sink(120, true);
    const p = new Progress('tty', out, { now: () => t });
    p.build({ kind: 'stage', stage, total: 1, platform: 'linux/amd64' });
    t += 2500;
    p.bytes({ direction: 'pull', digest: 'sha256:aa', bytes: 45_200_000, total: 150_000_000 });
    const running = out.text.split('\r\x1b[2K').at(-1)!;
    expect(running).toBe('[+] Building 2.5s (0/1) => [builder 1/3] FROM golang:1.22  2.5s  ↓ 45.2 MB/150 MB');
    t += 1000;
    p.bytes({ direction: 'pull', digest: 'sha256:aa', bytes: 150_000_000, total: 150_000_000 });
    p.build({ kind: 'from', stage, platform: 'linux/amd64', name: 'golang:1.22' });
    p.done('built sha256:12');
    expect(out.text).toContain('[+] Building 3.5s (1/1) FINISHED\nbuilt sha256:12\n');
    expect(out.text.split('\r\x1b[2K').at(-2)).not.toContain('↓');
  });

  it('rawjson: every line is JSON shaped like BuildKit\'s SolveStatus', () => {
    const out = sink(undefined, false);
    drive('rawjson', out);
    const lines = out.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, { [k: string]: unknown }[]>);
    const vertexes = lines.flatMap((l) => l.vertexes ?? []);
    expect(vertexes.find((v) => v.completed && String(v.name).includes('COPY . .'))).toMatchObject({ started: '1970-01-01T00:16:41.200Z', completed: '1970-01-01T00:16:41.540Z' });
    expect(lines.flatMap((l) => l.statuses ?? []).map((s) => [s.name, s.current])).toEqual([['pull', 21_000_000], ['push', 4_000_000], ['push', 21_000_000]]);
    expect(Buffer.from(String(lines.flatMap((l) => l.logs ?? [])[0]!.data), 'base64').toString()).toBe('compiling\n');
    expect(out.text).not.toContain('built sha256');
  });
});
