import type { Command } from 'commander';
import { OcimakeError } from '../errors.js';
import type { TransportOptions } from '../remote/transport.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** The flags every command that reaches a registry takes. */
export interface NetworkFlags {
  insecureRegistry: string[];
  networkTimeout?: string;
}

export function addNetworkFlags(cmd: Command): Command {
  return cmd
    .option('--insecure-registry <host[:port]>', 'reach this registry without TLS checks, over plain HTTP if it has no TLS (loopback hosts always are) (repeatable)', collect, [])
    .option('--network-timeout <seconds>', 'give up on a registry that sends nothing for this long (default 30, or OCIMAKE_NETWORK_TIMEOUT)');
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
  return {
    insecureRegistries: o.insecureRegistry,
    ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    ...(onNotice ? { onNotice } : {}),
  };
}
