import { redactUrlCredentials } from '../util/redact.js';
// SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance) of an ocimake build. ocimake
// knows every input exactly, since nothing runs that it did not read: the Dockerfile (by
// digest), every image FROM and COPY --from opened (by digest), and, in max mode, the build
// args' values. `mode=min|max` as buildx spells it.

export const BUILD_TYPE = 'https://github.com/ocimake/ocimake/blob/main/docs/provenance.md#v1';

export interface Material { uri: string; digest: string }

export interface ProvenanceInput {
  dockerfile: { path: string; digest: string };
  target?: string;
  platform: string;
  buildArgs: Record<string, string>;
  /** Images opened by the build (bases and COPY --from sources), by digest. */
  materials: readonly Material[];
  /** The build context's digest (BuildContext.digest). */
  contextDigest?: string;
  /** ocimake.lock, when the build wrote it (--lock) or was built by it (--locked). */
  lock?: { path: string; digest: string };
  /** max mode: the apk packages of the image, each by name, version and checksum. */
  apk?: readonly { name: string; version: string; arch?: string; checksum?: string }[];
  startedOn: string;
  finishedOn: string;
  version: string;
}

/** CI run ids from the environment (GitHub Actions, GitLab CI), for runDetails. */
function ciDetails(env: NodeJS.ProcessEnv): { builderId: string; invocationId?: string } {
  if (env.GITHUB_ACTIONS === 'true' && env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID) {
    const run = `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`;
    return { builderId: `${env.GITHUB_SERVER_URL}/${env.GITHUB_WORKFLOW_REF ?? env.GITHUB_REPOSITORY}`, invocationId: `${run}/attempts/${env.GITHUB_RUN_ATTEMPT ?? '1'}` };
  }
  if (env.GITLAB_CI === 'true' && env.CI_SERVER_URL && env.CI_PROJECT_PATH) {
    return { builderId: `${env.CI_SERVER_URL}/${env.CI_PROJECT_PATH}/-/runners/${env.CI_RUNNER_ID ?? ''}`, ...(env.CI_JOB_URL ? { invocationId: env.CI_JOB_URL } : {}) };
  }
  return { builderId: 'https://github.com/ocimake/ocimake' };
}

export function provenance(input: ProvenanceInput, mode: 'min' | 'max', env: NodeJS.ProcessEnv = process.env): unknown {
  const ci = ciDetails(env);
  const args = Object.keys(input.buildArgs).sort();
  return {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: {
        dockerfile: input.dockerfile.path,
        dockerfileDigest: input.dockerfile.digest,
        ...(input.target ? { target: input.target } : {}),
        platform: input.platform,
        // min: which build args were set; max: their values too (they may hold secrets).
        buildArgs: mode === 'max' ? Object.fromEntries(args.map((k) => [k, redactUrlCredentials(input.buildArgs[k] ?? '')])) : args,
      },
      internalParameters: { ocimakeVersion: input.version },
      resolvedDependencies: [
        { uri: `file:${input.dockerfile.path}`, digest: digestMap(input.dockerfile.digest) },
        ...(input.contextDigest ? [{ uri: 'context:.', digest: digestMap(input.contextDigest) }] : []),
        ...(input.lock ? [{ uri: `file:${input.lock.path}`, digest: digestMap(input.lock.digest) }] : []),
        ...[...new Map(input.materials.map((m) => [`${m.uri}@${m.digest}`, m])).values()].map((m) => ({ uri: m.uri, digest: digestMap(m.digest) })),
        ...(mode === 'max' ? (input.apk ?? []).map((p) => ({
          uri: `pkg:apk/alpine/${p.name}@${p.version}${p.arch ? `?arch=${p.arch}` : ''}`,
          // apk's checksum: Q1 + base64 of the SHA-1 of the package's control segment.
          ...(p.checksum?.startsWith('Q1') ? { digest: { sha1: Buffer.from(p.checksum.slice(2), 'base64').toString('hex') } } : {}),
        })) : []),
      ],
    },
    runDetails: {
      builder: { id: ci.builderId, version: { ocimake: input.version } },
      metadata: { ...(ci.invocationId ? { invocationId: ci.invocationId } : {}), startedOn: input.startedOn, finishedOn: input.finishedOn },
    },
  };
}

function digestMap(d: string): Record<string, string> {
  const [alg, hex] = d.split(':') as [string, string];
  return { [alg]: hex };
}
