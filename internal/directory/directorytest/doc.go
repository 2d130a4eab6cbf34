// Package directorytest is the behaviour suite every directory
// implementation runs: the same sign-in, account-state, password-change,
// reset and unlock expectations, against the real Samba AD DC for
// directory/ad and against a temporary file for directory/file.
//
// Implementations provide a Harness that creates users and puts them into
// states; optional harness interfaces enable the tests a backend supports.
package directorytest
