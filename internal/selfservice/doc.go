// Package selfservice runs the password lifecycle for users themselves:
// changing a password (as the user, so AD enforces history and minimum
// age), and the endings of resetting a forgotten password and unlocking an
// account — flows the sign-in engine runs (signin.Recovery) until the user
// proved who they are with their own factors. Every change is written
// straight to the directory; what must follow it (ending sessions, the
// audit, the notice) is retried until done (AfterWrite).
//
// It never shows raw directory errors: refusals are worded from the
// effective password policy.
package selfservice
