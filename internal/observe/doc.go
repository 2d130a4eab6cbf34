// Package observe owns Gatehouse's logs, metrics and health checks: the slog
// handler that adds the request id and client IP from the context, the
// Prometheus registry and collectors every subsystem reports to, the
// readiness checks behind /readyz, and the per-request phase timings
// (directory, store, signing) behind the Server-Timing header.
//
// It must never log or label a metric with a password, code, token or
// secret; callers pass only identifiers (user, dc, rp, client_id, event).
package observe
