// Package web owns Gatehouse's HTTP edge: the middleware every request
// passes (request id, client IP from trusted proxies only, security headers,
// panic recovery, body-size limits, metrics, access log), the
// error-returning handler type that separates what a user sees from what is
// logged, and — as later areas mount them — the pages.
//
// It must not talk to the directory or the store itself: handlers that need
// them receive the subsystem that owns them.
package web
