// in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md):
// what is attested (the subject, by digest) and the predicate that says something about it.

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const DSSE_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const CYCLONEDX_PREDICATE = 'https://cyclonedx.org/bom';

export interface Subject { name: string; digest: Record<string, string> }

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: Subject[];
  predicateType: string;
  predicate: unknown;
}

/** A statement about one image manifest, named as cosign and BuildKit name it (the repository, or the build's name). */
export function statementFor(name: string, manifestDigest: string, predicateType: string, predicate: unknown): Statement {
  const [alg, hex] = manifestDigest.split(':') as [string, string];
  return { _type: STATEMENT_TYPE, subject: [{ name, digest: { [alg]: hex } }], predicateType, predicate };
}
