// Package signin is the flow engine every protocol and self-service flow
// reuses: a small state machine kept in the store and bound to the browser
// by a cookie (identify → password → account state → [password change] →
// second factor → [enrolment] → session), the browser sessions it issues,
// and the policy that decides which factors a sign-in needs.
//
// A protocol asks Authenticate for "a user for this app, with these
// requirements" and either gets the result at once (a live session meets
// them) or the engine takes over the browser and sends it back to the
// protocol's resume URL when done.
//
// It never talks HTTP to relying parties and never builds tokens; it never
// logs passwords or codes.
package signin
