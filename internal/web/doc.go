// Package web is the toolkit below Gatehouse's pages: the middleware every
// request passes (request id, client IP from trusted proxies only, security
// headers, panic recovery, body-size and concurrency limits, metrics,
// access log), the error-returning handler type that separates what a user
// sees from what is logged, the error pages (every error in the layout and
// the user's language, with a way on and the request id), CSRF protection,
// and the rendering of the embedded templates with their message catalogs.
// The areas that own pages (signin, account, selfservice, the protocols)
// build on it; it knows none of them.
//
// It must not talk to the directory or the store itself: handlers that need
// them receive the subsystem that owns them.
package web
