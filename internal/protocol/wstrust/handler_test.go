package wstrust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func newTestHandler(t *testing.T, v Version, dir Authenticator, issue IssueFunc, log io.Writer) http.Handler {
	t.Helper()
	e := endpoint13
	if v == Trust2005 {
		e = endpoint2005
	}
	h, err := NewHandler(HandlerConfig{Version: v, Endpoint: e, Auth: dir, Issue: issue,
		Now: func() time.Time { return t0 }, Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func post(h http.Handler, body []byte, contentType string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/wstrust/13/usernamemixed", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAUsernameMixedRoundTripOverLoopbackIssuesAValidToken(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	f := newFixture(t, kp, t0)
	var logs bytes.Buffer
	mux := http.NewServeMux()
	mux.Handle(PathUsernameMixed13, newTestHandler(t, Trust13, &fakeDirectory{}, f.issue, &logs))
	mux.Handle(PathUsernameMixed2005, newTestHandler(t, Trust2005, &fakeDirectory{}, f.issue, &logs))
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	defer srv.Close()
	for _, r := range []rst{msalNET13(), msalNET2005()} {
		path := PathUsernameMixed13
		if r.version == Trust2005 {
			path = PathUsernameMixed2005
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(r.xml()))
		req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
		req.Header.Set("SOAPAction", r.action)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/soap+xml; charset=utf-8" {
			t.Fatalf("%s: %d %s\n%s", r.version, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if err := validators.XMLSec1(t, body, pemCert(kp), validators.SAML11Assertion); err != nil {
			t.Errorf("%s: xmlsec1 rejects the issued token: %v", r.version, err)
		}
	}
	if strings.Contains(logs.String(), "Al1ce") || !strings.Contains(logs.String(), "token issued") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

func TestEveryCredentialFailureGetsTheSameFault(t *testing.T) {
	f := newFixture(t, validators.FixedKey(t, "current"), t0)
	wrong := msalNET13()
	wrong.password = "wrong"
	unknown := msalNET13()
	unknown.username = "nobody@corp.example.com"
	emptyPass := msalNET13()
	emptyPass.password = ""
	var bodies [][]byte
	var names []string
	var logs bytes.Buffer
	add := func(name string, dir Authenticator, issue IssueFunc, r rst) {
		rec := post(newTestHandler(t, Trust13, dir, issue, &logs), r.xml(), "application/soap+xml")
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", name, rec.Code)
		}
		bodies, names = append(bodies, rec.Body.Bytes()), append(names, name)
	}
	add("wrong password", &fakeDirectory{}, f.issue, wrong)
	add("unknown user", &fakeDirectory{}, f.issue, unknown)
	for _, e := range []error{directory.ErrAccountLocked, directory.ErrAccountDisabled, directory.ErrAccountExpired,
		directory.ErrPasswordExpired, directory.ErrMustChangePassword, directory.ErrNotPermitted, directory.ErrAmbiguousUser} {
		add(e.Error(), &fakeDirectory{err: fmt.Errorf("ldap: %w", e)}, f.issue, msalNET13())
	}
	add("a user outside the federated domains", &fakeDirectory{}, func(ctx context.Context, req *Request, u *directory.User) (*assertion.Assertion, error) {
		return nil, fmt.Errorf("issue: %w", wsfed.ErrDomainNotFederated)
	}, msalNET13())
	add("an app that forbids WS-Trust", &fakeDirectory{}, func(ctx context.Context, req *Request, u *directory.User) (*assertion.Assertion, error) {
		return nil, fmt.Errorf("app requires MFA: %w", ErrNotAuthorized)
	}, msalNET13())
	noCall := &fakeDirectory{}
	add("an empty password", noCall, f.issue, emptyPass)
	if noCall.calls != 0 {
		t.Error("an empty password reached the directory (an anonymous bind would succeed)")
	}
	for i := range bodies {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Errorf("%q answers differently from %q:\n%s\n%s", names[i], names[0], bodies[i], bodies[0])
		}
	}
	if !bytes.Contains(bodies[0], []byte("a:FailedAuthentication")) {
		t.Errorf("not a FailedAuthentication fault: %s", bodies[0])
	}
	if strings.Contains(logs.String(), "Al1ce") {
		t.Error("a password was logged")
	}
	for _, reason := range []string{"account locked", "invalid credentials", "not in a federated domain"} {
		if !strings.Contains(logs.String(), reason) {
			t.Errorf("the log should tell the cause %q apart:\n%s", reason, logs.String())
		}
	}
}

func TestOtherFailuresGetTheirOwnFault(t *testing.T) {
	f := newFixture(t, validators.FixedKey(t, "current"), t0)
	otherRP := msalNET13()
	otherRP.appliesTo = "urn:unknown:rp"
	cases := []struct {
		name     string
		dir      Authenticator
		issue    IssueFunc
		body     []byte
		ctype    string
		contains string
	}{
		{"the directory is down", &fakeDirectory{err: fmt.Errorf("dial: %w", directory.ErrUnavailable)}, f.issue, msalNET13().xml(), "application/soap+xml", "s:Receiver"},
		{"a canceled request", &fakeDirectory{err: context.Canceled}, f.issue, msalNET13().xml(), "application/soap+xml", "a:RequestFailed"},
		{"an unknown AppliesTo", &fakeDirectory{}, f.issue, otherRP.xml(), "application/soap+xml", "a:InvalidRequest"},
		{"a signing failure", &fakeDirectory{}, func(context.Context, *Request, *directory.User) (*assertion.Assertion, error) {
			return nil, errors.New("hsm offline")
		}, msalNET13().xml(), "application/soap+xml", "a:RequestFailed"},
		{"a DTD", &fakeDirectory{}, f.issue, append([]byte(`<!DOCTYPE x>`), msalNET13().xml()...), "application/soap+xml", "a:InvalidRequest"},
		{"garbage over SOAP 1.1", &fakeDirectory{}, f.issue, []byte("garbage"), "text/xml; charset=utf-8", "<faultcode"},
		{"an oversize body", &fakeDirectory{}, f.issue, bytes.Repeat([]byte("x"), DefaultMaxBodyBytes+1), "application/soap+xml", "a:InvalidRequest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := post(newTestHandler(t, Trust13, c.dir, c.issue, io.Discard), c.body, c.ctype)
			if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), c.contains) {
				t.Errorf("%d %s", rec.Code, rec.Body)
			}
		})
	}
	rec := httptest.NewRecorder()
	newTestHandler(t, Trust13, &fakeDirectory{}, f.issue, io.Discard).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathUsernameMixed13, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec.Code)
	}
	if _, err := NewHandler(HandlerConfig{Version: Trust13}); err == nil {
		t.Error("a handler without authenticator and issuer was built")
	}
}

// waitError is a refusal that names a wait, as abuse.Throttled does.
type waitError struct{ secs int }

func (w waitError) Error() string                  { return "too many attempts" }
func (w waitError) RetryAfterSeconds() (int, bool) { return w.secs, w.secs > 0 }

func TestARateLimitedRequestSaysWhenToRetry(t *testing.T) {
	f := newFixture(t, validators.FixedKey(t, "current"), t0)
	rec := post(newTestHandler(t, Trust13, &fakeDirectory{err: fmt.Errorf("guard: %w", waitError{secs: 900})}, f.issue, io.Discard),
		msalNET13().xml(), "application/soap+xml")
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Retry-After") != "900" || !strings.Contains(rec.Body.String(), "a:RequestFailed") {
		t.Errorf("status %d, Retry-After %q:\n%s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	rec = post(newTestHandler(t, Trust13, &fakeDirectory{}, f.issue, io.Discard), func() []byte {
		r := msalNET13()
		r.password = "wrong"
		return r.xml()
	}(), "application/soap+xml")
	if rec.Header().Get("Retry-After") != "" {
		t.Errorf("a wrong password says when to retry: %q", rec.Header().Get("Retry-After"))
	}
}
