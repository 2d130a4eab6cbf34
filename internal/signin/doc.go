// Package signin is the flow engine every protocol and self-service flow
// reuses: a small state machine kept in the store and bound to the browser
// by a cookie (identify → password → account state → [password change] →
// second factor → [enrolment] → session) and the browser sessions it
// issues. It decides nothing itself: what a user must prove comes from
// internal/policy, whether a password may reach the directory from
// internal/abuse, whether a code is right from the Factors (FactorSet).
//
// Its parts take only what they use: Engine the flows (store.Flows), the
// directory and the factors; Sessions the sessions and remembered browsers
// (store.Sessions, store.Credentials, config.Sessions), kept in step with
// the directory (recheck.go), and the participants of each session — the
// applications a protocol gave tokens to in it, with the SAML
// SessionIndex each got — which a sign-out tells (participants.go);
// FactorSet the factor methods.
//
// A protocol asks Authenticate for "a user for this app, with these
// requirements" and either gets the result at once (a live session meets
// them) or the engine takes over the browser and hands the result back
// when done. Each step is one request: the protocol's request is answered
// with the first step's page, each step's POST with the next step's page,
// and the last step's POST either with the protocol's own answer (the
// engine calls the protocol endpoint in place: Request.InPlace) or with a
// redirect to the resume URL (Gatehouse's own pages, which keep their
// address).
//
// Self-service recovery — a forgotten-password reset, an unlock — is a
// flow kind of the same engine (MountRecovery): identify → verify with the
// account's own factors until policy.Recovery is satisfied → [new
// password] → the caller's RecoveryEnding (a directory write) instead of a
// session, with the same flow store, browser binding, factor checks and
// uniform answers for unknown accounts.
//
// It never talks HTTP to relying parties and never builds tokens; it never
// logs passwords or codes.
package signin
