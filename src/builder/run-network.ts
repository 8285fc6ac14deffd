import { OcimakeError } from '../errors.js';
import type { UrlFetcher } from '../remote/url-fetch.js';
import { fetchCommand } from './build-env.js';
import { parseRunFlags, type NetworkMode } from '../run/flags.js';
import type { Command } from '../run/shell/state.js';
import { redactUrlCredentials } from '../util/redact.js';
import type { StageEnv } from './stage.js';

// The network a RUN gets (its own --network, else the build's), and its native downloads:
// recorded for the step record, or failing as they would with no network.

/** The network a RUN gets: its own --network (default means the build's), else the build's --network. */
export function runNetwork(flags: readonly string[], build: NetworkMode | undefined): NetworkMode {
  const own = parseRunFlags(flags, true).network;
  return own === 'default' ? build ?? 'default' : own;
}

/**
 * RUN's commands, with wget and curl fetching through a recorder: what this one RUN downloaded
 * goes into its step record, so a later hit still names the files in provenance.
 */
export function recordingDownloads(env: StageEnv, offline: boolean): { extra: ReadonlyMap<string, Command> | undefined; fetched: { uri: string; digest: string }[] } {
  const fetched: { uri: string; digest: string }[] = [];
  const base = offline ? async (url: string): Promise<never> => { throw new OcimakeError('NETWORK', `${redactUrlCredentials(url)}: RUN --network=none has no network`, { hint: 'drop --network=none, or fetch the file with ADD <url>' }); } : env.fetchUrl;
  if (!env.runCommands || !base || !env.runCommands.has('wget')) return { extra: env.runCommands, fetched };
  const recorder: UrlFetcher = async (url, o) => {
    const got = await base(url, o);
    fetched.push({ uri: redactUrlCredentials(url), digest: got.digest });
    return got;
  };
  const extra = new Map(env.runCommands);
  if (offline && env.offlineApk && extra.has('apk')) extra.set('apk', env.offlineApk);
  extra.set('wget', fetchCommand('wget', recorder));
  if (extra.has('curl')) extra.set('curl', fetchCommand('curl', recorder));
  return { extra, fetched };
}
