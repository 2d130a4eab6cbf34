//go:build !unix

package validators

// lockFile does not lock where flock is missing; concurrent first runs may
// then install twice.
func lockFile(string) (func(), error) { return func() {}, nil }
