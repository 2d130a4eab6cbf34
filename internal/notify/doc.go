// Package notify sends Gatehouse's mail: email sign-in codes and the
// notices of security-relevant changes (password reset, expiry reminder,
// factor added, account unlocked).
//
// It owns the message templates (text and HTML, embedded, per language),
// their rendering, and delivery over SMTP with wneessen/go-mail (Mailer).
// Callers depend on the Sender interface, or on the few methods of
// Notifier they use, so they can be tested with a fake or with the real
// SMTP server in notify/smtptest.
//
// It must not log a message body, a code or a password; logs name the
// kind of message and a masked recipient only. It knows nothing of HTTP,
// the directory or the store.
package notify
