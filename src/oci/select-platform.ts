import { OcimakeError } from '../errors.js';
import { formatPlatform, platformMatches } from './platform.js';
import type { Descriptor, Index, Platform } from './schemas.js';

/**
 * Picks the manifest for `wanted` from an index, with Docker's variant rules. Entries
 * without a platform (attestations) are skipped; an exact variant match beats a missing one.
 */
export function selectPlatform(index: Index, wanted: Platform, what: string): Descriptor {
  const candidates = index.manifests.filter((m) => m.platform && m.platform.architecture !== 'unknown' && platformMatches(m.platform, wanted));
  const exact = candidates.find((m) => m.platform?.variant === wanted.variant);
  const chosen = exact ?? candidates[0];
  if (!chosen) {
    const have = index.manifests.filter((m) => m.platform && m.platform.architecture !== 'unknown').map((m) => formatPlatform(m.platform!));
    throw new OcimakeError('PLATFORM_NOT_FOUND', `${what} has no image for ${formatPlatform(wanted)}`, { hint: `available: ${have.join(', ') || 'none'}; pick one with --platform` });
  }
  return chosen;
}
