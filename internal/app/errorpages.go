package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// machinePath reports the paths that programs call, not people: their
// errors, and an unknown address under them, are answered in plain text,
// never with a page. The browser endpoints among the protocols (/wsfed,
// /saml/sso, /oauth2/authorize, and ADFS's passive /adfs/ls/ that an old
// link may still name) get the pages.
func machinePath(p string) bool {
	for _, prefix := range []string{"/wstrust/", "/adfs/services/", "/FederationMetadata/", "/.well-known/", "/static/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	switch p {
	case "/healthz", "/readyz", "/metrics", "/saml/metadata", "/oauth2/token", "/oauth2/userinfo", "/oauth2/keys", "/oauth2/revoke":
		return true
	}
	return false
}

// storeCheckTimeout bounds the store check behind an unexpected error.
const storeCheckTimeout = 2 * time.Second

// classifyError tells the user what an unexpected error of a page means
// when a dependency is down: the directory says so in its error; the
// store is asked now. Anything else stays a 500.
func (a *App) classifyError(ctx context.Context, err error) (web.HTTPError, bool) {
	if errors.Is(err, directory.ErrUnavailable) {
		return web.HTTPError{Code: http.StatusServiceUnavailable, Msg: "error.directory_unavailable"}, true
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeCheckTimeout)
	defer cancel()
	if a.Store.Ping(ctx) != nil {
		return web.HTTPError{Code: http.StatusServiceUnavailable, Msg: "error.store_unavailable"}, true
	}
	return web.HTTPError{}, false
}
