// Package version holds the build's version, set at link time with
// -ldflags "-X github.com/gatehouse-sso/gatehouse/internal/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version is the release version; "dev" for a local build.
var Version = "dev"

// Commit returns the VCS revision embedded by the Go toolchain, or "unknown".
func Commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
