// Package app is the explicit wiring of Gatehouse: App builds every
// subsystem once from a validated configuration (metrics, store, secrets,
// signing keys, directory, HTTP routes), runs the startup checks, serves, and
// shuts down gracefully.
//
// It holds no protocol or business logic; cmd/gatehouse calls it and
// nothing else does.
package app
