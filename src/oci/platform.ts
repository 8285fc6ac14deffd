import { OcimakeError } from '../errors.js';
import type { Platform } from './schemas.js';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The host's linux platform in OCI terms (Node's `x64` is `amd64`; arm64 means variant v8). */
export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  return normalizePlatform({ os: 'linux', architecture });
}

/** Parses `os/arch[/variant]` as `--platform` takes it. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new OcimakeError('PLATFORM_INVALID', `invalid platform "${s}"`, { hint: 'use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8' });
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant });
}

/** Applies Docker's normalisation: aarch64→arm64 (v8), x86_64→amd64, armhf→arm/v7. */
export function normalizePlatform(p: Platform): Platform {
  let { architecture, variant } = p;
  if (architecture === 'x86_64' || architecture === 'x86-64') architecture = 'amd64';
  if (architecture === 'aarch64') architecture = 'arm64';
  if (architecture === 'armhf') { architecture = 'arm'; variant = variant ?? 'v7'; }
  if (architecture === 'armel') { architecture = 'arm'; variant = variant ?? 'v6'; }
  if (architecture === 'arm64' && (variant === undefined || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && variant === undefined) variant = 'v7';
  const out: Platform = { ...p, architecture };
  if (variant !== undefined) out.variant = variant; else delete out.variant;
  return out;
}

/** Formats a platform as `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join('/');
}

/** True when a descriptor's platform satisfies the wanted one (Docker's variant rules). */
export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  const c = normalizePlatform(candidate);
  const w = normalizePlatform(wanted);
  if (c.os !== w.os || c.architecture !== w.architecture) return false;
  if (w.variant === undefined || c.variant === undefined) return true;
  return c.variant === w.variant;
}
