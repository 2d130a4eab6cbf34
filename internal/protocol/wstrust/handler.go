package wstrust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
)

// Authenticator checks a user name and password; directory.Directory (or
// the sign-in layer's rate-limited wrapper of it) satisfies it. It must
// return the user only with a nil error to let a token be issued.
type Authenticator interface {
	Authenticate(ctx context.Context, login, password string) (*directory.User, error)
}

// IssueFunc builds the signed assertion for an authenticated user: it
// finds the relying party by req.AppliesTo, picks the issuer and claims
// (no MFA claim: WS-Trust proves only the password) and signs. Return an
// error wrapping ErrInvalidRequest for an unknown AppliesTo, and one
// wrapping ErrNotAuthorized (or wsfed.ErrDomainNotFederated) when this
// user may not have a token; both reach the client as the matching fault,
// anything else as an internal failure.
type IssueFunc func(ctx context.Context, req *Request, u *directory.User) (*assertion.Assertion, error)

// Errors an IssueFunc returns to choose the fault.
var (
	ErrInvalidRequest = errors.New("wstrust: invalid request")
	ErrNotAuthorized  = errors.New("wstrust: not authorized")
)

// HandlerConfig configures a usernamemixed endpoint.
type HandlerConfig struct {
	// Version is the endpoint's: Trust13 at /wstrust/13/usernamemixed,
	// Trust2005 at /wstrust/2005/usernamemixed.
	Version Version
	// Endpoint is the endpoint's public URL (as the MEX lists it), to
	// check wsa:To. Empty: not checked.
	Endpoint string
	Auth     Authenticator
	Issue    IssueFunc
	// Now is the clock. Required.
	Now func() time.Time
	// Logger receives one line per request (never the password). Nil:
	// slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes caps the request. Zero: DefaultMaxBodyBytes.
	MaxBodyBytes int
	// MaxSkew is the timestamp tolerance. Zero: DefaultMaxSkew.
	MaxSkew time.Duration
}

type handler struct{ c HandlerConfig }

// NewHandler returns the http.Handler of one usernamemixed endpoint: POST
// a RequestSecurityToken, get the RSTR with a signed SAML 1.1 assertion or
// a SOAP fault with HTTP 500. A wrong password, an unknown user and an
// account that may not sign in (locked, disabled, expired, must change
// its password, outside the federated domains) all get the same
// FailedAuthentication fault; the log tells them apart.
func NewHandler(c HandlerConfig) (http.Handler, error) {
	if c.Version != Trust13 && c.Version != Trust2005 {
		return nil, errors.New("wstrust: handler needs a WS-Trust version")
	}
	if c.Auth == nil || c.Issue == nil || c.Now == nil {
		return nil, errors.New("wstrust: handler needs an Authenticator, an IssueFunc and a clock")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &handler{c: c}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST a WS-Trust RequestSecurityToken", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	log := h.c.Logger.With(slog.String("event", "wstrust_issue"), slog.String("version", h.c.Version.String()))
	soap := SOAP12
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "text/xml" {
		soap = SOAP11
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.c.MaxBodyBytes)))
	if err != nil {
		log.InfoContext(ctx, "refused", slog.String("reason", "body unreadable or larger than the limit"))
		h.fault(w, soap, FaultInvalidRequest, "")
		return
	}
	now := h.c.Now()
	req, err := ParseRequest(body, ParseOptions{
		Version: h.c.Version, Endpoint: h.c.Endpoint, SOAPAction: r.Header.Get("SOAPAction"),
		Now: now, MaxSkew: h.c.MaxSkew, MaxBytes: h.c.MaxBodyBytes,
	})
	if err != nil {
		log.InfoContext(ctx, "refused", slog.String("reason", err.Error()))
		h.fault(w, soap, FaultInvalidRequest, "")
		return
	}
	log = log.With(slog.String("user", req.Username), slog.String("applies_to", req.AppliesTo))
	if req.Password() == "" {
		// An empty password would be an anonymous LDAP bind: never ask.
		log.InfoContext(ctx, "authentication failed", slog.String("reason", "empty password"))
		h.fault(w, req.SOAP, FaultFailedAuthentication, req.MessageID)
		return
	}
	u, err := h.c.Auth.Authenticate(ctx, req.Username, req.Password())
	if err == nil && u == nil {
		err = errors.New("authenticator returned neither a user nor an error")
	}
	if err != nil {
		// A refusal by a rate limit says how long to wait; the client
		// should not retry sooner.
		var wait interface{ RetryAfterSeconds() (int, bool) }
		if errors.As(err, &wait) {
			if secs, ok := wait.RetryAfterSeconds(); ok {
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			}
		}
		kind := authFault(err)
		if kind == FaultFailedAuthentication {
			log.InfoContext(ctx, "authentication failed", slog.String("reason", err.Error()))
		} else {
			log.WarnContext(ctx, "authentication could not be done", slog.String("error", err.Error()))
		}
		h.fault(w, req.SOAP, kind, req.MessageID)
		return
	}
	a, err := h.c.Issue(ctx, req, u)
	if err != nil {
		kind := FaultRequestFailed
		switch {
		case errors.Is(err, ErrInvalidRequest):
			kind = FaultInvalidRequest
		case errors.Is(err, ErrNotAuthorized), errors.Is(err, wsfed.ErrDomainNotFederated):
			kind = FaultFailedAuthentication
		}
		log.InfoContext(ctx, "no token issued", slog.String("reason", err.Error()))
		h.fault(w, req.SOAP, kind, req.MessageID)
		return
	}
	resp, err := BuildResponse(req, a, now)
	if err != nil {
		log.ErrorContext(ctx, "building the response failed", slog.String("error", err.Error()))
		h.fault(w, req.SOAP, FaultRequestFailed, req.MessageID)
		return
	}
	log.InfoContext(ctx, "token issued", slog.String("assertion_id", a.ID), slog.String("issuer", a.Issuer))
	h.write(w, req.SOAP, http.StatusOK, resp)
}

// authFault maps an Authenticate error: every "these credentials do not
// get a token" answer becomes the one FailedAuthentication fault; the
// directory being down or anything unexpected is an internal failure.
func authFault(err error) FaultKind {
	for _, e := range []error{
		directory.ErrInvalidCredentials, directory.ErrPasswordExpired, directory.ErrMustChangePassword,
		directory.ErrAccountLocked, directory.ErrAccountDisabled, directory.ErrAccountExpired,
		directory.ErrNotPermitted, directory.ErrUserNotFound, directory.ErrAmbiguousUser,
	} {
		if errors.Is(err, e) {
			return FaultFailedAuthentication
		}
	}
	return FaultRequestFailed
}

func (h *handler) fault(w http.ResponseWriter, soap SOAPVersion, kind FaultKind, relatesTo string) {
	h.write(w, soap, http.StatusInternalServerError, BuildFault(soap, h.c.Version, kind, relatesTo))
}

func (h *handler) write(w http.ResponseWriter, soap SOAPVersion, status int, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", ContentType(soap))
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
