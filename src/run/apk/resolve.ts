import { OcimakeError } from '../../errors.js';
import { formatDep, type ApkPackage, type Dep } from './index-file.js';
import { compareVersions, satisfies } from './version.js';

export interface SolveInput {
  /** The constraints to meet: /etc/apk/world after the command's changes. */
  world: readonly Dep[];
  /** What /lib/apk/db/installed lists. */
  installed: readonly ApkPackage[];
  /** Every package of the repositories, in the repositories' order. */
  available: readonly ApkPackage[];
  /** Names to move to their newest version ('all' for every package); others stay as installed. */
  upgrade?: ReadonlySet<string> | 'all';
}

const key = (p: ApkPackage) => `${p.name}-${p.version}`;

/**
 * Chooses the packages that meet the world, as apk's solver does for the cases Dockerfiles
 * meet: names and `provides` (so:, cmd:, pc:, virtual names, provider priority), version
 * constraints, conflicts (`!name`), install_if, and what is installed already (kept unless a
 * constraint or an upgrade needs another version). Deterministic: same input, same answer.
 * Returns the packages with every dependency before its dependants.
 */
export function solve(input: SolveInput): ApkPackage[] {
  // Greedy, with learning: when a later constraint rules out a version chosen earlier, the
  // constraint is pinned on that name and the choice starts again (at most once per constraint).
  const pins = new Map<string, Dep[]>();
  for (let round = 0; ; round++) {
    try {
      return solveOnce(input, pins);
    } catch (e) {
      if (!(e instanceof Repin) || round > 200) throw e instanceof Repin ? e.cause : e;
      pins.set(e.dep.name, [...(pins.get(e.dep.name) ?? []), e.dep]);
    }
  }
}

class Repin { constructor(readonly dep: Dep, readonly cause: OcimakeError) {} }

function solveOnce(input: SolveInput, pins: ReadonlyMap<string, Dep[]>): ApkPackage[] {
  const installedKeys = new Set(input.installed.map(key));
  const all = new Map<string, ApkPackage>();
  for (const p of input.available) if (!all.has(key(p))) all.set(key(p), p);
  for (const p of input.installed) if (!all.has(key(p))) all.set(key(p), p);
  const byName = new Map<string, ApkPackage[]>();
  const providers = new Map<string, { pkg: ApkPackage; version: string }[]>();
  for (const p of all.values()) {
    const named = byName.get(p.name);
    if (named) named.push(p); else byName.set(p.name, [p]);
    for (const pr of p.provides) {
      const those = providers.get(pr.name);
      if (those) those.push({ pkg: p, version: pr.version }); else providers.set(pr.name, [{ pkg: p, version: pr.version }]);
    }
  }
  const upgrading = (name: string) => input.upgrade === 'all' || (input.upgrade?.has(name) ?? false);
  const selected = new Map<string, ApkPackage>();
  const conflicts: { dep: Dep; chain: string[] }[] = [];

  const meets = (p: ApkPackage, d: Dep): boolean => {
    if (p.name === d.name && satisfies(p.version, d.op, d.version)) return true;
    return p.provides.some((pr) => pr.name === d.name && (d.op === '' || (pr.version !== '' && satisfies(pr.version, d.op, d.version))));
  };

  const fail = (d: Dep, chain: string[], why: string): never => {
    throw new OcimakeError('APK_UNSATISFIABLE', `unable to select packages: ${formatDep(d)} (${why}), required by: ${chain.join(' → ')}`, {
      hint: why === 'no such package' ? 'check the package name and that /etc/apk/repositories (or -X) names the repository that has it; add -U if the index is older than the package' : 'loosen the version constraint, or name a version the repositories have',
    });
  };

  const pick = (d: Dep, chain: string[]): ApkPackage => {
    const pinned = (p: ApkPackage) => (pins.get(p.name) ?? []).every((x) => satisfies(p.version, x.op, x.version));
    const named = (byName.get(d.name) ?? []).filter((p) => satisfies(p.version, d.op, d.version) && pinned(p));
    if (named.length > 0) {
      const current = input.installed.find((p) => p.name === d.name);
      if (current && !upgrading(d.name) && named.some((p) => key(p) === key(current))) return named.find((p) => key(p) === key(current))!;
      return [...named].sort((a, b) => compareVersions(b.version, a.version) || (a.repoIndex ?? 1e9) - (b.repoIndex ?? 1e9))[0]!;
    }
    const provs = (providers.get(d.name) ?? []).filter(({ pkg, version }) => pinned(pkg) && (d.op === '' || (version !== '' && satisfies(version, d.op, d.version))));
    if (provs.length === 0) {
      return fail(d, chain, (byName.get(d.name)?.length ?? 0) > 0 || (providers.get(d.name)?.length ?? 0) > 0 ? `no version matches ${d.op}${d.version}` : 'no such package');
    }
    // A virtual name with several providers: the highest provider_priority, then one already
    // installed, then by name and the newest version (apk refuses a choice it cannot make;
    // with a priority or an installed provider it has one).
    provs.sort((a, b) =>
      (b.pkg.providerPriority ?? -1) - (a.pkg.providerPriority ?? -1)
      || Number(installedKeys.has(key(b.pkg))) - Number(installedKeys.has(key(a.pkg)))
      || (a.pkg.name < b.pkg.name ? -1 : a.pkg.name > b.pkg.name ? 1 : 0)
      || compareVersions(b.pkg.version, a.pkg.version));
    const withPriority = provs.filter((p) => p.pkg.providerPriority !== undefined || installedKeys.has(key(p.pkg)));
    const names = new Set(provs.map((p) => p.pkg.name));
    if (names.size > 1 && withPriority.length === 0 && !d.name.includes(':')) {
      return fail(d, chain, `a virtual name provided by ${[...names].join(', ')}; name one of them`);
    }
    return provs[0]!.pkg;
  };

  const resolve = (d: Dep, chain: string[]): void => {
    if (d.conflict) { conflicts.push({ dep: d, chain }); return; }
    for (const p of selected.values()) if (meets(p, d)) return;
    const p = pick(d, chain);
    const same = selected.get(p.name);
    if (same) {
      let err: OcimakeError | undefined;
      try { fail(d, chain, `${key(same)} is already chosen`); } catch (e) { err = e as OcimakeError; }
      const already = (pins.get(d.name) ?? []).some((x) => formatDep(x) === formatDep(d));
      if (d.name === p.name && !already) throw new Repin(d, err!);
      throw err!;
    }
    selected.set(p.name, p);
    for (const dep of p.depends) resolve(dep, [...chain, key(p)]);
  };

  for (const d of input.world) resolve(d, ['world']);
  // install_if: a package comes along when everything it names is chosen.
  for (let changed = true; changed;) {
    changed = false;
    for (const p of all.values()) {
      if (p.installIf.length === 0 || selected.has(p.name)) continue;
      if (p.installIf.every((d) => [...selected.values()].some((s) => meets(s, d)))) {
        const best = pick({ name: p.name, op: '', version: '', conflict: false }, ['install_if']);
        if (key(best) !== key(p)) continue;
        selected.set(p.name, p);
        for (const dep of p.depends) resolve(dep, ['install_if', key(p)]);
        changed = true;
      }
    }
  }
  for (const { dep, chain } of conflicts) {
    const hit = [...selected.values()].find((p) => meets(p, { ...dep, conflict: false }) && !(chain.length > 1 && chain[chain.length - 1] === key(p)));
    if (hit) throw new OcimakeError('APK_CONFLICT', `unable to select packages: ${key(hit)} conflicts with ${formatDep(dep)}, required by: ${chain.join(' → ')}`, { hint: 'remove one of the two from the command (or from /etc/apk/world)' });
  }
  return order(selected);
}

/** Dependencies before dependants; ties and cycles broken by name, so the order is stable. */
function order(selected: Map<string, ApkPackage>): ApkPackage[] {
  const out: ApkPackage[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: ApkPackage) => {
    if (state.has(p.name)) return;
    state.set(p.name, 'visiting');
    for (const d of p.depends) {
      if (d.conflict) continue;
      const dep = [...selected.values()].filter((s) => s.name === d.name || s.provides.some((pr) => pr.name === d.name)).sort((a, b) => (a.name < b.name ? -1 : 1))[0];
      if (dep) visit(dep);
    }
    state.set(p.name, 'done');
    out.push(p);
  };
  for (const name of [...selected.keys()].sort()) visit(selected.get(name)!);
  return out;
}
