// Package webauthn is the passkey and security-key factor (W3C WebAuthn,
// built on github.com/go-webauthn/webauthn).
//
// It owns the three ceremonies: registration (a passkey or security key
// for a directory user, resident key preferred, user verification
// preferred, the user's existing credentials excluded), authentication as
// a second factor (allowCredentials = the user's credentials), and
// discoverable, passwordless sign-in (no user named, user verification
// required). It stores credentials through the store's Credentials role:
// Type "webauthn", LookupKey = the base64url credential ID, and the public
// data (COSE public key, sign count, transports, AAGUID, flags) as JSON in
// Data. Nothing it stores is secret.
//
// Each Begin call returns the options to hand to the browser (JSON for
// navigator.credentials.create/get, as internal/web/static/webauthn.js
// reads them from data-options) and opaque session bytes the caller keeps
// server-side — in its flow — and hands back to the matching Finish call,
// exactly once. The session binds the challenge, the ceremony kind, the
// user and an expiry from the injected clock.
//
// Every failure the browser or the user can cause is a *VerificationError:
// errors.Is(err, ErrVerification) and errors.Is(err, mfa.ErrInvalidCode)
// both hold, mfa.Reason(err) gives a short reason for the audit trail, and
// the wrapped error carries the library's detail for the log. None of it
// is meant for the user, who sees one uniform message.
//
// It must not know about HTTP, pages, flows or sessions, log anything, or
// decide policy (who may use passwordless sign-in is the caller's call).
package webauthn
