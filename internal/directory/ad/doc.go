// Package ad is the Active Directory implementation of directory.Directory,
// with every optional capability (PasswordChanger, PasswordResetter,
// Unlocker, PolicyReader), over LDAP with github.com/go-ldap/ldap/v3.
//
// It owns: finding a user with the service account (by any configured login
// attribute, with an escaped filter), binding as that user and mapping AD's
// `data` codes to the typed errors of package directory, decoding account
// state (userAccountControl, the computed attributes, FILETIMEs), nested group
// membership, the extra attributes apps receive (Options.ExtraAttributes:
// read by the same user search, binary values base64, capped; see
// attributes.go), the effective password policy (domain root overridden by the
// user's PSO), password change/reset/unlock, and the connections to the
// domain controllers: a pool per DC, health with backoff, and the retry rule.
//
// The rules it keeps, and why:
//   - Only TLS. A DC URL is ldaps:// or ldap:// with mandatory StartTLS,
//     verified against the configured CA; a connection that is not encrypted
//     is never handed out, and password writes check it again before sending.
//   - An authentication costs at most two LDAP operations on a warm pool: one
//     search on a connection bound as the service account, one bind on a
//     separate connection used for nothing but user binds (so the service
//     connections never need re-binding). Nested groups come from the
//     memberOf values of that same search, expanded through a short-lived
//     cache of group→parent groups: a cold cache costs one search per nesting
//     level; a warm one costs nothing.
//   - A bind that got any answer from a DC (including result 49) is never
//     retried on another DC: that would double bad-password counts and can
//     hide a lockout. Only a failure before an answer (dial, TLS, reset,
//     timeout) moves to another DC, at most once after a request was sent.
//     A password change (delete+add, not idempotent) is not retried once it
//     was sent.
//   - Every call is bounded by cfg.Timeout (or the caller's earlier deadline),
//     including its retry: a DC that accepts TCP and never answers cannot
//     hang a sign-in.
//   - The reason a password was refused is derived from the policy read from
//     the directory, never from the DC's text.
//
// It must not: know about HTTP, sessions or MFA; log a password (or anything
// derived from one); chase referrals; write a password over a connection that
// is not encrypted; start goroutines that outlive Close.
//
// Failover is tested against two replicating Samba DCs in a private network
// namespace (failover_test.go, run by scripts/testenv/failover-tests.sh).
//
// Not built yet: re-running SRV discovery while running — DCs found by
// DiscoverDomain are resolved once, at Open.
package ad
