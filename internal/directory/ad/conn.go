package ad

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// ldapConn is one LDAP connection as the directory uses it. Every call is
// bounded by its context. The real one wraps *ldap.Conn; tests use fakes.
//
// Errors that mean "no answer from the DC" (dial, TLS, reset, timeout) come
// back as *transportError; any LDAP result comes back as *ldap.Error.
type ldapConn interface {
	Bind(ctx context.Context, dn, password string) error
	Search(ctx context.Context, req *ldap.SearchRequest) (*ldap.SearchResult, error)
	Modify(ctx context.Context, req *ldap.ModifyRequest) error
	// Encrypted reports whether the connection runs over a completed,
	// verified TLS handshake.
	Encrypted() bool
	// Usable reports whether the connection can still carry a request.
	Usable() bool
	Close()
}

// dialFunc opens an encrypted connection to a domain controller.
type dialFunc func(ctx context.Context, t *target) (ldapConn, error)

// target is one domain controller address.
type target struct {
	name     string // host:port, the label in logs and metrics
	addr     string // host:port to dial
	startTLS bool   // ldap:// — StartTLS is mandatory
	tls      *tls.Config
}

// parseTarget turns a configured URL into a target. Only ldaps:// and
// ldap:// (with mandatory StartTLS) exist: there is no way to ask for a
// plain connection.
func parseTarget(raw string, base *tls.Config) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("ad: domain controller URL %q: %w", raw, err)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("ad: domain controller URL %q: want ldaps://host[:port] or ldap://host[:port]", raw)
	}
	var port string
	var startTLS bool
	switch strings.ToLower(u.Scheme) {
	case "ldaps":
		port = "636"
	case "ldap":
		port, startTLS = "389", true
	default:
		return nil, fmt.Errorf("ad: domain controller URL %q: scheme must be ldaps or ldap (with StartTLS)", raw)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return newTarget(u.Hostname(), port, startTLS, base), nil
}

func newTarget(host, port string, startTLS bool, base *tls.Config) *target {
	cfg := base.Clone()
	cfg.ServerName = host
	addr := net.JoinHostPort(host, port)
	return &target{name: addr, addr: addr, startTLS: startTLS, tls: cfg}
}

// transportError is a failure before the DC answered: the request may or may
// not have reached it, but no LDAP result came back.
type transportError struct {
	// sent is false when the failure happened before any request of the
	// operation could have reached the DC (dial, TLS, a closed connection).
	sent bool
	err  error
}

func (e *transportError) Error() string {
	return "ad: no answer from domain controller: " + e.err.Error()
}
func (e *transportError) Unwrap() error { return e.err }

// isTransport reports whether err is a failure before an answer.
func isTransport(err error) bool {
	var te *transportError
	return errors.As(err, &te)
}

// wasSent reports whether a transport failure may have reached the DC.
func wasSent(err error) bool {
	var te *transportError
	return errors.As(err, &te) && te.sent
}

// classify wraps the errors of go-ldap that are not LDAP results (network
// errors, a closed connection, a timed-out read) as transport errors. LDAP
// results and go-ldap's local errors (empty password, bad filter) stay as
// they are.
func classify(err error, sent bool) error {
	if err == nil {
		return nil
	}
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode != ldap.ErrorNetwork {
		return err
	}
	return &transportError{sent: sent, err: err}
}

// aLongTimeAgo is a deadline in the past: setting it aborts pending I/O.
var aLongTimeAgo = time.Unix(1, 0)

// realConn is an *ldap.Conn over a TCP connection this package dialed and
// keeps, so that it can put deadlines on every operation.
type realConn struct {
	raw    net.Conn
	l      *ldap.Conn
	broken atomic.Bool
}

// dialLDAP connects, negotiates TLS (LDAPS or StartTLS) and returns only an
// encrypted connection. The whole dial is bounded by ctx.
func dialLDAP(ctx context.Context, t *target) (ldapConn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, &transportError{err: fmt.Errorf("dial %s: %w", t.addr, err)}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(aLongTimeAgo) })
	c, err := negotiateTLS(ctx, raw, t)
	if !stop() && err == nil {
		// ctx ended while negotiating: the deadline is poisoned.
		c.Close()
		err = ctx.Err()
	}
	if err != nil {
		_ = raw.Close()
		return nil, &transportError{err: fmt.Errorf("TLS with %s: %w", t.addr, err)}
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

func negotiateTLS(ctx context.Context, raw net.Conn, t *target) (*realConn, error) {
	var c *realConn
	if t.startTLS {
		l := ldap.NewConn(raw, false)
		l.Start()
		if err := l.StartTLS(t.tls); err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
		c = &realConn{raw: raw, l: l}
	} else {
		tc := tls.Client(raw, t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		l := ldap.NewConn(tc, true)
		l.Start()
		c = &realConn{raw: raw, l: l}
	}
	if !c.Encrypted() {
		c.Close()
		return nil, errors.New("connection is not encrypted")
	}
	return c, nil
}

// do runs one operation with the context's deadline on the socket and
// aborts it when the context ends. A connection whose operation was aborted
// or failed in transport is never reused.
func (c *realConn) do(ctx context.Context, f func() error) error {
	if !c.Usable() {
		return &transportError{err: errors.New("connection closed")}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.raw.SetDeadline(aLongTimeAgo) })
	err := classify(f(), true)
	if stop() {
		_ = c.raw.SetDeadline(time.Time{})
	} else {
		c.broken.Store(true)
		if err == nil {
			err = &transportError{sent: true, err: ctx.Err()}
		}
	}
	if isTransport(err) {
		c.broken.Store(true)
	}
	return err
}

func (c *realConn) Bind(ctx context.Context, dn, password string) error {
	return c.do(ctx, func() error {
		_, err := c.l.SimpleBind(&ldap.SimpleBindRequest{Username: dn, Password: password})
		return err
	})
}

func (c *realConn) Search(ctx context.Context, req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	var res *ldap.SearchResult
	err := c.do(ctx, func() error {
		var err error
		res, err = c.l.Search(req)
		return err
	})
	return res, err
}

func (c *realConn) Modify(ctx context.Context, req *ldap.ModifyRequest) error {
	return c.do(ctx, func() error { return c.l.Modify(req) })
}

func (c *realConn) Encrypted() bool {
	st, ok := c.l.TLSConnectionState()
	return ok && st.HandshakeComplete
}

func (c *realConn) Usable() bool { return !c.broken.Load() && !c.l.IsClosing() }

func (c *realConn) Close() {
	// A past deadline first, so that closing never waits on a DC that
	// stopped reading (tls.Conn.Close writes a close_notify alert).
	_ = c.raw.SetDeadline(aLongTimeAgo)
	_ = c.l.Close()
}
