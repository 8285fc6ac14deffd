import { CIContextProvider, DSSEBundleBuilder, FulcioSigner, RekorWitness, TSAWitness, type IdentityProvider, type Witness } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';
import { OcimakeError } from '../errors.js';
import { DSSE_PAYLOAD_TYPE, type Statement } from './statement.js';

// Keyless signing, as cosign and actions/attest do it: an OIDC token (SIGSTORE_ID_TOKEN, or the
// CI's identity provider: GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_*), a short-lived Fulcio
// certificate for an ephemeral key, a Rekor entry, and a TSA timestamp when one is named.

export { PUBLIC_GOOD } from './public-good.js';

export interface KeylessOptions {
  fulcioURL: string;
  rekorURL: string;
  tsaURL?: string;
  /** Record the signature in Rekor (default). */
  tlog: boolean;
  /** The OIDC token; else SIGSTORE_ID_TOKEN or the CI's provider. */
  identityToken?: string;
}

export async function signStatementKeyless(statement: Statement, o: KeylessOptions): Promise<Buffer> {
  const identityProvider: IdentityProvider = o.identityToken ? { getToken: async () => o.identityToken! } : new CIContextProvider('sigstore');
  const witnesses: Witness[] = [];
  if (o.tlog) witnesses.push(new RekorWitness({ rekorBaseURL: o.rekorURL, entryType: 'intoto' }));
  if (o.tsaURL) witnesses.push(new TSAWitness({ tsaBaseURL: o.tsaURL }));
  if (witnesses.length === 0) {
    throw new OcimakeError('FLAG_INVALID', 'keyless signing with --tlog=false needs --tsa-url', { hint: 'a Fulcio certificate lives minutes: a verifier needs a log entry or a timestamp to know it was valid when it signed' });
  }
  const builder = new DSSEBundleBuilder({ signer: new FulcioSigner({ fulcioBaseURL: o.fulcioURL, identityProvider }), witnesses, certificateChain: false });
  let bundle;
  try {
    bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: DSSE_PAYLOAD_TYPE });
  } catch (err) {
    // Never print a token: @sigstore/sign puts a refused one in its message.
    const msg = (err instanceof Error ? err.message : String(err)).replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '<the token>');
    if (/no tokens available/.test(msg)) {
      throw new OcimakeError('SIGN_FAILED', 'keyless signing needs an OIDC identity token, and none was found', { hint: 'set SIGSTORE_ID_TOKEN, run in GitHub Actions with "permissions: id-token: write", or sign with --key FILE' });
    }
    throw new OcimakeError('SIGN_FAILED', `keyless signing failed: ${msg}`, { cause: err, hint: `check that ${o.fulcioURL}${o.tlog ? ` and ${o.rekorURL}` : ''} are reachable and accept the token` });
  }
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)));
}

/** Fails before a build when keyless signing could find no OIDC token at all. */
export function checkIdentityAvailable(o: KeylessOptions, env: NodeJS.ProcessEnv = process.env): void {
  if (o.identityToken || env.SIGSTORE_ID_TOKEN || (env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN)) return;
  throw new OcimakeError('SIGN_FAILED', 'keyless signing needs an OIDC identity token, and none was found', { hint: 'set SIGSTORE_ID_TOKEN (GitLab: an id_tokens entry of that name), run in GitHub Actions with "permissions: id-token: write", or sign with --key FILE' });
}
