// Package reminders mails users whose password expires soon, for
// `gatehouse notify expiring` (run daily by cron): each user once per
// window (e.g. 14, 7 and 1 days before the expiry) and per password, so a
// re-run never mails twice and a user who changed the password is reminded
// again before the next expiry.
//
// It owns the choice of window, the record of what was sent (a store ticket
// per user, password and window) and the per-user report. It asks the
// directory for the users (directory.ExpiryLister) and hands the mail to
// notify; it knows nothing of LDAP, SMTP or the command line, and never
// logs a full mail address.
package reminders
