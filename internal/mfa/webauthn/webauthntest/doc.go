// Package webauthntest is a software WebAuthn authenticator together with
// the browser's part of a ceremony, for tests that need passkeys without
// a browser (the sign-in engine's, for instance).
//
// Create and Get take the options JSON that webauthn.Service's Begin calls
// return and answer with the credential JSON that
// internal/web/static/webauthn.js posts: the same shape, base64url
// throughout. The authenticator makes ES256 keys with attestation "none"
// and keeps every credential it made; tests may change a credential's
// SignCount or the authenticator's flags to provoke failures.
//
// It is for tests only: it checks what a browser checks (origin within
// the RP ID, excluded and allowed credentials, user verification) and
// nothing more, and its keys live in memory.
package webauthntest
