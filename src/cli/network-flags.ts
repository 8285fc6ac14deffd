import type { Command } from 'commander';
import { OcimakeError } from '../errors.js';
import type { TransportOptions } from '../remote/transport.js';
import { loadMirrors } from '../remote/mirrors.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** The flags every command that reaches a registry takes. */
export interface NetworkFlags {
  insecureRegistry: string[];
  registryMirror?: string[];
  networkTimeout?: string;
  networkMinRate?: string;
}

export function addNetworkFlags(cmd: Command): Command {
  return cmd
    .option('--insecure-registry <host[:port]>', 'reach this registry without TLS checks, over plain HTTP if it has no TLS (loopback hosts always are) (repeatable)', collect, [])
    .option('--registry-mirror <registry=mirror>', 'pull REGISTRY\'s images from MIRROR first (host[:port][/path]; repeatable), as registries.conf and buildkitd.toml mirrors, which are read too', collect, [])
    .option('--network-timeout <seconds>', 'give up on a registry that sends nothing for this long (default 30, or OCIMAKE_NETWORK_TIMEOUT)')
    .option('--network-min-rate <bytes/s>', 'give up on a download (blob, ADD <url>, RUN wget) slower than this over a whole --network-timeout window (default 1024, or OCIMAKE_NETWORK_MIN_RATE; 0: no floor)');
}

/** Transport options from the network flags; a malformed timeout is refused by name. */
export function transportFrom(o: NetworkFlags, onNotice?: (message: string) => void): TransportOptions {
  let timeoutSeconds: number | undefined;
  if (o.networkTimeout !== undefined) {
    timeoutSeconds = Number(o.networkTimeout);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > 86_400) {
      throw new OcimakeError('FLAG_INVALID', `--network-timeout ${o.networkTimeout} is not a number of seconds`, { hint: 'give a number between 1 and 86400, e.g. --network-timeout 60' });
    }
  }
  let minBytesPerSecond: number | undefined;
  if (o.networkMinRate !== undefined) {
    if (!/^\d+$/.test(o.networkMinRate)) throw new OcimakeError('FLAG_INVALID', `--network-min-rate ${o.networkMinRate} is not a number of bytes per second`, { hint: 'give a whole number, e.g. --network-min-rate 1024; 0 turns the floor off' });
    minBytesPerSecond = Number(o.networkMinRate);
  }
  const mirrors = loadMirrors(o.registryMirror ?? []);
  return {
    insecureRegistries: o.insecureRegistry,
    ...(mirrors.size ? { mirrors } : {}),
    ...(minBytesPerSecond !== undefined ? { minBytesPerSecond } : {}),
    ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    ...(onNotice ? { onNotice } : {}),
  };
}
