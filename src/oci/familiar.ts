import { DOCKER_HUB, type Reference } from './reference.js';

/** Docker's short form of a tagged reference: docker.io/library/alpine:3 → alpine:3. */
export function familiarName(r: Reference): string {
  let name = `${r.registry}/${r.repository}`;
  if (r.registry === DOCKER_HUB) name = r.repository.startsWith('library/') ? r.repository.slice(8) : r.repository;
  return `${name}:${r.tag ?? 'latest'}`;
}
