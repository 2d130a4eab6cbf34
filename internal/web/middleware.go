package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain applies mws so that the first one is outermost.
func Chain(h http.Handler, mws ...Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// RequestID gives every request a random id, in the context (and so in
// every log line) and in the X-Request-Id response header. An incoming id
// is never trusted: it would let a client forge log correlation.
func RequestID() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id := hex.EncodeToString(b[:])
			w.Header().Set("X-Request-Id", id)
			next.ServeHTTP(w, r.WithContext(observe.WithRequestID(r.Context(), id)))
		})
	}
}

// TrustedProxies decides which peers' X-Forwarded-For is believed.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies parses addresses and CIDR ranges.
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	var tp TrustedProxies
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			tp = append(tp, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		tp = append(tp, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return tp, nil
}

func (tp TrustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client's address: the TCP peer, unless the peer is a
// trusted proxy, in which case X-Forwarded-For is read from the right,
// skipping trusted proxies, and the first untrusted address is the client.
func (tp TrustedProxies) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if len(tp) == 0 || !tp.trusts(peer) {
		return peer.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: stop at the last address we could trust
		}
		client = a.Unmap()
		if !tp.trusts(client) {
			break
		}
	}
	return client.String()
}

// ClientIPMiddleware puts the client IP in the context.
func ClientIPMiddleware(tp TrustedProxies) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(observe.WithClientIP(r.Context(), tp.ClientIP(r))))
		})
	}
}

// DefaultCSP allows only Gatehouse's own scripts, styles and forms and no
// framing. A handler that must post a form to a relying party sets its own
// Content-Security-Policy before writing.
const DefaultCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// SecurityHeaders sets the headers every response carries; hsts adds
// Strict-Transport-Security (when Gatehouse is reached over HTTPS).
func SecurityHeaders(hsts bool) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", DefaultCSP)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
			if hsts {
				h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// NoStore marks responses as never to be cached: every page of a sign-in or
// self-service flow, and every token response.
func NoStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// Recover turns a panic into a 500 with a request id the user can quote,
// and logs the stack.
func Recover(log *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "panic", v, "path", r.URL.Path, "stack", string(debug.Stack()))
				writeError(w, r, HTTPError{Code: http.StatusInternalServerError})
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// LimitBody caps every request body at n bytes; a larger body fails to read
// with *http.MaxBytesError, which handlers answer with 413.
func LimitBody(n int64) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				writeError(w, r, HTTPError{Code: http.StatusRequestEntityTooLarge})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

// statusWriter remembers the status code written and, with timings set,
// adds the Server-Timing header just before the header is sent.
type statusWriter struct {
	http.ResponseWriter
	status int

	timings *observe.Timings // nil: no Server-Timing header
	start   time.Time
}

func (s *statusWriter) WriteHeader(code int) {
	// An informational answer (103 Early Hints) precedes the real one.
	if s.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		s.status = code
		s.addServerTiming()
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
		s.addServerTiming()
	}
	return s.ResponseWriter.Write(b)
}

// FlushError lets http.ResponseController flush through the wrapper, so a
// flush before the first write still records the status and sends
// Server-Timing.
func (s *statusWriter) FlushError() error {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) addServerTiming() {
	if s.timings == nil {
		return
	}
	s.Header().Add("Server-Timing", serverTiming(s.timings.Snapshot(), time.Since(s.start)))
}

// serverTiming is the Server-Timing header value for phases and
// total: "directory;dur=1.23, store;dur=0.45, signing;dur=0.80,
// total;dur=3.10", milliseconds with two decimals, total last. The load
// generator in bench/ parses exactly this.
func serverTiming(phases []observe.PhaseTime, total time.Duration) string {
	b := make([]byte, 0, 24*(len(phases)+1))
	add := func(name string, d time.Duration) {
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, name...)
		b = append(b, ";dur="...)
		b = strconv.AppendFloat(b, float64(max(d, 0))/float64(time.Millisecond), 'f', 2, 64)
	}
	for _, p := range phases {
		add(p.Phase, p.Duration)
	}
	add("total", total)
	return string(b)
}

// InstrumentOptions configures Instrument.
type InstrumentOptions struct {
	// ServerTiming times the directory, store and signing phases of each
	// request and answers with a Server-Timing header (the phases that
	// took place, and total: from Instrument until the header is sent).
	// It shows every client how long the directory took, which the
	// failed-sign-in delay does not pad: an unknown user (one search)
	// then looks different from a wrong password (search and bind). Turn
	// it on where the clients are trusted, such as load tests.
	ServerTiming bool
}

// Instrument must wrap the ServeMux directly (it reads the matched route
// pattern from the request the mux saw). It records the request histogram
// and writes the access log line — path only: query strings carry tokens.
func Instrument(m *observe.Metrics, log *slog.Logger, mux http.Handler, o InstrumentOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, start: start}
		if o.ServerTiming {
			var ctx context.Context
			ctx, sw.timings = observe.WithTimings(r.Context())
			r = r.WithContext(ctx)
		}
		mux.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		m.HTTPRequests.WithLabelValues(route, r.Method, statusLabel(sw.status)).Observe(d.Seconds())
		level := slog.LevelInfo
		if route == "GET /healthz" || route == "GET /readyz" || route == "GET /metrics" {
			level = slog.LevelDebug
		}
		log.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path,
			"route", route, "status", sw.status, "duration_ms", float64(d.Microseconds())/1000)
	})
}

func statusLabel(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "other"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

// LimitConcurrency lets at most n requests be handled at once; the others
// wait, before their body is read, until one ends or their context does
// (then 503). A burst — a thousand sign-ins released together — then holds
// a thousand small waiting requests, not a thousand half-done ones, each
// with its grown stack and its garbage. Health checks and metrics do not
// wait. n must leave room for requests held up by a failing domain
// controller (each waits out its timeout), or single sign-ons, which need
// no DC, would queue behind them. It wraps the router inside Instrument, so the wait counts in the
// request's time.
func LimitConcurrency(n int, next http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		case <-r.Context().Done():
			writeError(w, r, HTTPError{Code: http.StatusServiceUnavailable, Msg: "error.busy"})
			return
		}
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	})
}
