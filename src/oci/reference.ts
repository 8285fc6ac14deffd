import { OcimakeError } from '../errors.js';
import { isDigest, type Digest } from './digest.js';

// Image references as Docker spells them (distribution/reference):
// [registry[:port]/]repository[:tag][@digest]. `alpine` is docker.io/library/alpine:latest.

export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';

/** A parsed, normalised image reference. */
export interface Reference {
  /** Registry host as named (docker.io for Docker Hub), with port. */
  registry: string;
  /** Repository path inside the registry (library/alpine). */
  repository: string;
  tag?: string;
  digest?: Digest;
}

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const REPO_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DOMAIN_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d+)?$/;

function bad(ref: string, why: string): OcimakeError {
  return new OcimakeError('REFERENCE_INVALID', `invalid image reference "${ref}": ${why}`, {
    hint: 'use [registry[:port]/]name[:tag][@sha256:digest], lowercase, e.g. ghcr.io/acme/app:1.0',
  });
}

/** Parses and normalises a reference; throws REFERENCE_INVALID with a hint when malformed. */
export function parseReference(ref: string): Reference {
  if (ref === '' || /\s/.test(ref)) throw bad(ref, 'it is empty or contains whitespace');
  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(ref, `"${d}" is not a valid digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(ref, `tag "${tag}" is not valid`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      repository = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN_RE.test(registry)) throw bad(ref, `registry "${registry}" is not a valid host`);
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (repository.length > 255) throw bad(ref, 'the repository name is longer than 255 characters');
  if (!REPO_RE.test(repository)) {
    throw bad(ref, repository !== repository.toLowerCase() ? 'repository names must be lowercase' : `repository "${repository}" is not valid`);
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  const out: Reference = { registry, repository };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** The full normalised form, e.g. docker.io/library/alpine:latest. */
export function formatReference(r: Reference): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The repository a reference names, without tag or digest: docker.io/library/alpine. */
export function repositoryName(r: Reference): string {
  return `${r.registry}/${r.repository}`;
}

/** What to ask the registry for: the digest when pinned, else the tag. */
export function referenceIdentifier(r: Reference): string {
  return r.digest ?? r.tag ?? 'latest';
}

/** The host that serves the registry's API (Docker Hub's is registry-1.docker.io). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** True for hosts Docker reaches over plain HTTP by default: localhost, 127.0.0.0/8, [::1]. */
export function isLoopbackHost(hostPort: string): boolean {
  const host = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.split(':')[0] ?? '';
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
