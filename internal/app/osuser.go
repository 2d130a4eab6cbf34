package app

import (
	"os"
	"os/user"
	"strconv"
)

// osUser names the operating-system user running this process, for the
// audit of admin commands: the user's login name, and under sudo the one
// who ran sudo as well ("root (sudo from alice)"). SUDO_USER is only a
// hint — whoever is root can set it — so the account is named first.
func osUser() string {
	name := "uid " + strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if s := os.Getenv("SUDO_USER"); s != "" && s != name {
		name += " (sudo from " + s + ")"
	}
	return name
}
