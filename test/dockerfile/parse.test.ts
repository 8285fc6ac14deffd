import { describe, expect, it } from 'vitest';
import { dumpNode, parseDockerfile } from '../../src/dockerfile/parse.js';
import { planDockerfile } from '../../src/dockerfile/stages.js';

describe('parseDockerfile', () => {
  it('records start and end lines across continuations and comments', () => {
    const r = parseDockerfile('# c\nFROM scratch\n\nENV A=1 \\\n  # inside\n  B=2\nCOPY a /a\n');
    expect(r.nodes.map((n) => [n.keyword, n.startLine, n.endLine])).toEqual([['from', 2, 2], ['env', 4, 6], ['copy', 7, 7]]);
    expect(r.nodes[1]!.args).toEqual(['A', '1', '=', 'B', '2', '=']);
  });

  it('splits leading flags and keeps exec-form strings whole', () => {
    const [n] = parseDockerfile('COPY --from=builder --chown=1:2 ["a b", "/c d/"]\n').nodes;
    expect(n).toMatchObject({ flags: ['--from=builder', '--chown=1:2'], args: ['a b', '/c d/'], json: true });
    const [cmd] = parseDockerfile('CMD ["echo hello world"]').nodes;
    expect(cmd).toMatchObject({ args: ['echo hello world'], json: true });
    const [sh] = parseDockerfile('CMD echo  hello').nodes;
    expect(sh).toMatchObject({ args: ['echo  hello'], json: false });
  });

  it('parses heredocs: content, chomp, quoted markers and several on one line', () => {
    const text = 'FROM scratch\nCOPY <<A <<"B" /dst/\na $X\nA\nb $X\nB\nRUN <<-EOT\n\t\techo hi\n\tEOT\nENV Z=1\n';
    const r = parseDockerfile(text);
    const copy = r.nodes[1]!;
    expect(copy.heredocs).toEqual([
      { name: 'A', content: 'a $X\n', expand: true, chomp: false },
      { name: 'B', content: 'b $X\n', expand: false, chomp: false },
    ]);
    expect(copy.endLine).toBe(6);
    expect(r.nodes[2]!.heredocs[0]).toMatchObject({ name: 'EOT', content: 'echo hi\n', chomp: true });
    expect(r.nodes[3]).toMatchObject({ keyword: 'env', startLine: 10 });
  });

  it('refuses an unterminated heredoc with its line', () => {
    expect(() => parseDockerfile('FROM scratch\nCOPY <<EOF /x\nbody\n', { file: 'ci/Dockerfile' })).toThrow(/^ci\/Dockerfile:2: unterminated heredoc EOF/);
  });

  it('honours the escape directive and only at the top', () => {
    const r = parseDockerfile('# escape=`\nFROM scratch\nENV P=C:\\dir `\n  Q=1\n');
    expect(r.escapeToken).toBe('`');
    expect(r.nodes[1]!.args).toEqual(['P', 'C:\\dir', '=', 'Q', '1', '=']);
    expect(parseDockerfile('FROM scratch\n# escape=`\nENV A=1\n').escapeToken).toBe('\\');
    expect(() => parseDockerfile('# escape=x\nFROM scratch')).toThrow(/Dockerfile:1: invalid escape token/);
  });

  it('refuses JSON arrays of non-strings with the line', () => {
    expect(() => parseDockerfile('FROM scratch\nCMD ["a", 1]\n')).toThrow(/^Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only/);
  });

  it('dumps ONBUILD and HEALTHCHECK like BuildKit', () => {
    const r = parseDockerfile('ONBUILD RUN echo hi\nHEALTHCHECK --interval=5s CMD ["x"]\n');
    expect(r.nodes.map(dumpNode)).toEqual(['onbuild (run "echo hi")', 'healthcheck ["--interval=5s"] "CMD" "x"']);
  });
});

describe('planDockerfile', () => {
  it('splits global ARGs and named stages', () => {
    const p = planDockerfile('ARG V=1\nFROM scratch AS Build\nCOPY a /a\nFROM build\n');
    expect(p.globalArgs).toHaveLength(1);
    expect(p.stages.map((s) => [s.index, s.name, s.instructions.length])).toEqual([[0, 'build', 1], [1, undefined, 0]]);
  });
  it('refuses duplicate stage names with the line', () => {
    expect(() => planDockerfile('FROM scratch AS a\nFROM scratch AS a\n')).toThrow(/Dockerfile:2: duplicate stage name "a"/);
  });
});
