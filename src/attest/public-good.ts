/** The public-good Sigstore instance (kept apart from the signer, so the CLI can name it without loading sigstore-js). */
export const PUBLIC_GOOD = { fulcio: 'https://fulcio.sigstore.dev', rekor: 'https://rekor.sigstore.dev' } as const;
