package signin

import (
	"context"
	"net/http"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Factors is what the engine needs of the second factors: which a user
// has, and the pages to verify and enrol them. internal/mfa provides it.
type Factors interface {
	// Enrolled lists the enabled methods the user has, in the order to
	// offer them.
	Enrolled(ctx context.Context, u *directory.User) ([]string, error)
	// Enrollable lists the methods a user may set up at sign-in.
	Enrollable() []string
	// Challenge fills the MFA page for method (e.g. sends an email code);
	// pending is the method's state to keep in the flow. prev is the state
	// from the last showing of this method in this flow (nil the first
	// time): a factor reuses it where it can (an email code is not sent
	// again while the last one is live).
	Challenge(ctx context.Context, r *http.Request, u *directory.User, method string, prev []byte, p *web.Page) (pending []byte, err error)
	// Verify checks the user's answer posted in r. It returns the amr
	// value to record, or mfa.ErrInvalidCode-like errors.
	Verify(ctx context.Context, r *http.Request, u *directory.User, method string, pending []byte) (amr string, err error)
	// BeginEnrol fills the enrolment page for method; prev as for
	// Challenge (a TOTP enrolment keeps its secret after a wrong code).
	BeginEnrol(ctx context.Context, r *http.Request, u *directory.User, method string, prev []byte, p *web.Page) (pending []byte, err error)
	// FinishEnrol completes enrolment from the posted form; it returns the
	// amr value (enrolment proves possession) and, for a first factor,
	// recovery codes to show once.
	FinishEnrol(ctx context.Context, r *http.Request, u *directory.User, method string, pending []byte) (amr string, recovery []string, err error)
}

// Passwordless is the optional capability of signing in with a
// discoverable passkey instead of a password.
type Passwordless interface {
	BeginPasswordless(ctx context.Context) (options string, session []byte, ok bool, err error)
	FinishPasswordless(ctx context.Context, r *http.Request, session []byte) (userID, amr string, err error)
}
