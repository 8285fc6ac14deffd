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
  const p = normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant });
  if (p.os !== 'linux') {
    throw new OcimakeError('PLATFORM_INVALID', `unsupported platform "${s}": ocimake builds linux images`, { hint: 'use linux/ARCH, e.g. linux/amd64 or linux/arm64' });
  }
  if (!KNOWN_ARCH.has(p.architecture)) {
    throw new OcimakeError('PLATFORM_INVALID', `unknown architecture "${architecture}" in platform "${s}"`, { hint: `use one of ${[...KNOWN_ARCH].join(', ')}` });
  }
  const variants = VARIANTS[p.architecture];
  if (p.variant !== undefined && !(variants ?? []).includes(p.variant)) {
    throw new OcimakeError('PLATFORM_INVALID', `unknown variant "${p.variant}" for ${p.architecture} in platform "${s}"`, { hint: variants ? `use one of ${variants.join(', ')}` : `${p.architecture} has no variants` });
  }
  return p;
}

/** Architectures of the OCI image index spec (GOARCH values) that Linux images use. */
const KNOWN_ARCH = new Set(['amd64', 'arm64', 'arm', '386', 'ppc64le', 'ppc64', 's390x', 'riscv64', 'mips64le', 'mips64', 'mipsle', 'mips', 'loong64']);
const VARIANTS: Record<string, string[]> = { arm64: ['v8', 'v9'], arm: ['v5', 'v6', 'v7', 'v8'], amd64: ['v1', 'v2', 'v3', 'v4'] };

/**
 * The platform as BuildKit gives it to TARGETPLATFORM and friends: containerd's
 * normalisation, where arm64's default variant v8 is dropped (`linux/arm64`, TARGETVARIANT empty).
 */
export function argPlatform(p: Platform): Platform {
  const n = normalizePlatform(p);
  if (n.architecture === 'arm64' && n.variant === 'v8') { const { variant: _v, ...rest } = n; return rest; }
  return n;
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
