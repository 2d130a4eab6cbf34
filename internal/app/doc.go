// Package app is the explicit wiring of Gatehouse: App builds every
// subsystem once from a validated configuration (metrics, store, secrets,
// signing keys, directory, HTTP routes), runs the startup checks, serves, and
// shuts down gracefully. Run and App's command methods (the entra commands,
// expiry reminders, the demo) are what each subcommand of cmd/gatehouse
// runs, so the command line only parses flags and loads the configuration.
//
// It holds no protocol or business logic; cmd/gatehouse calls it and
// nothing else does.
package app
