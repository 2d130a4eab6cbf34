// Command bench is Gatehouse's load generator and benchmark report (issue
// #8). It starts `gatehouse serve` against the test Samba AD DC, creates
// users for the run, and drives complete browser-equivalent journeys over
// HTTP — an Entra WS-Federation sign-in with password and TOTP, the same
// with a live session (SSO), a password change — at several
// concurrencies. It reports journeys/s, latency percentiles, Gatehouse's
// CPU per journey against the cost of one RSA-2048 signature measured in
// the same run, LDAP operations per journey, Server-Timing and peak RSS,
// as Markdown. bench/run.sh (make bench) runs it end to end.
//
// It only talks to Gatehouse over HTTP and reads /proc and /metrics; it
// never reaches into Gatehouse's store. It creates and removes its own AD
// objects (an OU below OU=Staff, and a PSO when needed) and touches no
// others.
package main
