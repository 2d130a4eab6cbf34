// Package mfa is the shared vocabulary of Gatehouse's second factors: the
// method names, the RFC 8176 "amr" value each contributes to a session,
// the typed errors every factor returns, the attempt limiter they share,
// and the list of a user's enrolled factors.
//
// Each factor lives in its own sub-package with a concrete type:
// totp (authenticator apps), recovery (one-time recovery codes) and
// emailcode (codes mailed to the user); webauthn sits beside them. The
// sign-in engine and the self-service flows call those types directly and
// declare the small interfaces they need on their side.
//
// A factor failure is uniform for the user: a wrong, expired, replayed or
// already-used code all satisfy errors.Is(err, ErrInvalidCode) and must be
// shown with the same words. Why it failed is carried by the error for the
// log and the audit trail only (see Reason). No package here logs or
// returns a code, a seed or a secret.
//
// This package must not know about HTTP, pages or the directory.
package mfa
