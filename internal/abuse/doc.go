// Package abuse answers one question for every flow: may this attempt go
// on to the directory (or to the factor check)? It owns Gatehouse's limits
// on guessing passwords and codes and its AD-aware smart lockout, and keeps
// every counter in the store, so all instances share them.
//
// A budget is taken before the question is asked — atomically, so that N
// parallel requests cannot all pass a check made before any of them
// counted — and settled after: a wrong answer keeps it, a right one gives
// it back (and resets the account's count), and an answer that says
// nothing about the password (a transport error, a DC timeout, a locked
// account) gives it back: it never counts.
//
// Passwords are keyed on the account (its directory ID) once the directory
// has found it — so alice, ALICE, alice@corp…, CORP\alice and her mail
// address share one budget — and on the canonical login before that; per
// address, IPv6 clients count by prefix (/64 by default). The account is
// found by the directory's own search, between that search and the bind
// (directory.CheckedAuthenticator), so the check costs no LDAP operation.
//
// Smart lockout reads the account's lockout rule and AD's badPwdCount and
// stops sending the user's passwords to AD before AD would lock the
// account, leaving a margin for the user's other clients. Familiar clients
// — a browser that signed the user in before (a device token Guard mints
// and the engine keeps in a cookie) and, for WS-Trust, an address that
// did — have budgets of their own, so a spray from elsewhere cannot lock
// the user out of their own browser. A wrong password Gatehouse already
// sent is remembered as a keyed hash (forgotten when the password changes)
// and a repeat is answered as wrong without asking AD.
//
// The package decides and counts; it never renders a page, sets a cookie
// or sleeps. The caller maps ErrThrottled to its answer (with RetryAfter)
// and pads failure timing itself.
package abuse
