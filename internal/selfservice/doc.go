// Package selfservice runs the password lifecycle for users themselves:
// changing a password (as the user, so AD enforces history and minimum
// age), and — built on the same sign-in engine steps — resetting a
// forgotten password and unlocking an account after the user proved who
// they are with their own factors. Every change is written straight to the
// directory.
//
// It never shows raw directory errors: refusals are worded from the
// effective password policy.
package selfservice
