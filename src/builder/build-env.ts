import { urlFetcher, type BuildUrlFetcher, type UrlFetcher } from '../remote/url-fetch.js';
import type { ApkOptions } from '../run/apk/apk-command.js';
import type { Command } from '../run/shell/state.js';
import type { Platform } from '../oci/schemas.js';
import type { Cache } from '../store/cache.js';
import type { BuildOptions } from './build.js';
import { BUILD_COMMAND_NAMES } from './run-plan.js';

// The environment the build's ops get, past the stage's own state: the commands a native RUN
// has from the build (downloads through the build's URL fetcher and its cache, apk with the
// build's policy, uname for the platform), made once per build.

export interface RunTools {
  fetchUrl: BuildUrlFetcher;
  apkOptions: ApkOptions;
  /** wget, curl, uname and apk, as the build supplies them. */
  runCommands: Map<string, Command>;
}

export function runTools(opts: BuildOptions, platform: Platform, cache: Cache, scratch: string, warn: (m: string) => void): RunTools {
  const mirror = opts.apk?.mirror ?? process.env.OCIMAKE_APK_MIRROR;
  // --add-host names what RUN fetches (wget, curl, apk), as it does for an executed RUN's /etc/hosts.
  const transport = opts.runHost?.addHosts?.size ? { ...opts, hosts: opts.runHost.addHosts } : opts;
  const fetchUrl = urlFetcher(scratch, transport, opts.noCache === true ? undefined : cache);
  const apkOptions: ApkOptions = {
    cache, transport, warn,
    ...(opts.apk?.allowUntrusted ? { allowUntrusted: true } : {}), ...(mirror ? { mirror } : {}), ...(opts.apk?.strictScripts ? { strictScripts: true } : {}),
  };
  // Typed by BUILD_COMMAND_NAMES, so a plan made before the build knows exactly these.
  const buildCommands: Record<(typeof BUILD_COMMAND_NAMES)[number], Command> = {
    wget: fetchCommand('wget', fetchUrl), curl: fetchCommand('curl', fetchUrl),
    uname: lazyCommand(async () => (await import('../run/commands/system.js')).unameCommand(platform)),
    apk: apkOf(apkOptions),
  };
  return { fetchUrl, apkOptions, runCommands: new Map<string, Command>(Object.entries(buildCommands)) };
}

/** apk with these options; its code (index parser, solver, package reader) is loaded by its first use. */
export function apkOf(o: ApkOptions): Command {
  return lazyCommand(async () => (await import('../run/apk/apk-command.js')).apkCommand(o));
}

/** wget or curl over `fetcher`, loaded by its first use. */
export function fetchCommand(name: 'wget' | 'curl', fetcher: UrlFetcher): Command {
  return lazyCommand(async () => (await import('../run/commands/fetch.js'))[name](fetcher));
}

/** A command made on its first call: what a build never runs, it never loads. */
function lazyCommand(make: () => Promise<Command>): Command {
  let made: Promise<Command> | undefined;
  return async (args, io, sh) => (await (made ??= make()))(args, io, sh);
}
