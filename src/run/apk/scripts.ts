import type { ShellState } from '../shell/state.js';
import type { ApkPackage } from './index-file.js';
import type { OpenedPackage } from './package-file.js';
import { updateCaCertificates } from '../commands/certs.js';

/**
 * Install scripts are never executed. A few are emulated natively, because images depend on
 * what they do: the ca-certificates trigger (the bundle and hash links), and busybox's applet
 * links when busybox is upgraded (they exist already). Returns the scripts not run.
 */
export async function emulateScripts(sh: ShellState, p: ApkPackage, opened: OpenedPackage, upgrade: boolean): Promise<string[]> {
  const notRun: string[] = [];
  const hasTrigger = opened.info.has('triggers');
  for (const name of opened.scripts.keys()) {
    if (name === '.trigger' && p.name === 'ca-certificates') continue;
    if (p.name === 'busybox' && upgrade && ['.post-upgrade', '.pre-upgrade', '.trigger'].includes(name)) continue;
    if (name.endsWith('deinstall')) continue; // only run on removal
    notRun.push(name);
  }
  if (p.name === 'ca-certificates' && hasTrigger) await updateCaCertificates(sh);
  return notRun;
}
