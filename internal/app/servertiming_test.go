package app

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// timedResponse is what timingRecorder keeps of one response.
type timedResponse struct {
	method, path string
	status       int
	serverTiming []string
}

// timingRecorder is a browser transport that keeps every response's
// Server-Timing headers.
type timingRecorder struct {
	mu   sync.Mutex
	seen []timedResponse
}

func recordTimings(b *browse.Browser) *timingRecorder {
	r := &timingRecorder{}
	next := b.C.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	b.C.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err == nil {
			r.mu.Lock()
			r.seen = append(r.seen, timedResponse{req.Method, req.URL.Path, resp.StatusCode, resp.Header.Values("Server-Timing")})
			r.mu.Unlock()
		}
		return resp, err
	})
	return r
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// last returns the latest response to method path.
func (r *timingRecorder) last(t *testing.T, method, path string) timedResponse {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.seen) - 1; i >= 0; i-- {
		if s := r.seen[i]; s.method == method && s.path == path {
			return s
		}
	}
	t.Fatalf("no %s %s response among %+v", method, path, r.seen)
	return timedResponse{}
}

var serverTimingEntryRe = regexp.MustCompile(`^([a-z]+);dur=([0-9]+\.[0-9]{2})$`)

// phases parses the one Server-Timing header of s into phase → ms, and
// checks that total is there.
func (s timedResponse) phases(t *testing.T) map[string]float64 {
	t.Helper()
	if len(s.serverTiming) != 1 {
		t.Fatalf("%s %s (%d): want one Server-Timing header, got %q", s.method, s.path, s.status, s.serverTiming)
	}
	out := map[string]float64{}
	for e := range strings.SplitSeq(s.serverTiming[0], ", ") {
		m := serverTimingEntryRe.FindStringSubmatch(e)
		if m == nil {
			t.Fatalf("%s %s: Server-Timing entry %q is not name;dur=ms.cc", s.method, s.path, e)
		}
		ms, err := strconv.ParseFloat(m[2], 64)
		if err != nil || ms < 0 {
			t.Fatalf("%s %s: Server-Timing entry %q: %v", s.method, s.path, e, err)
		}
		out[m[1]] = ms
	}
	if _, ok := out["total"]; !ok {
		t.Fatalf("%s %s: Server-Timing %q has no total", s.method, s.path, s.serverTiming[0])
	}
	return out
}

func serverTiming(c *config.Config) { c.HTTP.ServerTiming = true }

func TestThereIsNoServerTimingHeaderUnlessItIsSwitchedOn(t *testing.T) {
	_, srv := newDemo(t)
	b := browse.New(t, srv.URL)
	rec := recordTimings(b)
	b.Get("/login")
	b.Submit(map[string]string{"login": DemoUsers()[0].Username})
	b.Submit(map[string]string{"password": "Wrong-Passw0rd!"})
	if h := rec.last(t, http.MethodPost, "/login").serverTiming; len(h) != 0 {
		t.Fatalf("Server-Timing sent by default: %q", h)
	}
}

func TestThePasswordPostOfAnADSignInReportsDirectoryTime(t *testing.T) {
	_, srv := newADAppWith(t, serverTiming)
	carol := testenv.Carol // a seeded user; signing in changes nothing
	b := browse.New(t, srv.URL)
	rec := recordTimings(b)
	b.Get("/login")
	b.Submit(map[string]string{"login": carol.UPN()})
	page := b.Submit(map[string]string{"password": carol.Password})
	if !strings.Contains(page, "signed in as "+carol.DisplayName()) {
		t.Fatalf("not signed in:\n%s", page)
	}
	post := rec.last(t, http.MethodPost, "/login")
	t.Logf("POST /login: Server-Timing: %s", post.serverTiming)
	got := post.phases(t)
	for _, want := range []string{"directory", "store"} {
		if _, ok := got[want]; !ok {
			t.Errorf("the password POST's Server-Timing %q has no %s time", post.serverTiming, want)
		}
	}
}

func TestAWSFedTokenResponseReportsSigningTime(t *testing.T) {
	_, srv := newEntraDemo(t, "none", serverTiming)
	b := browse.New(t, srv.URL)
	rec := recordTimings(b)
	b.Get(entraSignIn(""))
	page := b.Submit(map[string]string{"password": DemoUsers()[0].Password})
	if wresultRe.FindStringSubmatch(page) == nil {
		t.Fatalf("no token form:\n%s", page)
	}
	// The password POST ends the flow and answers with the token form.
	token := rec.last(t, http.MethodPost, "/login")
	t.Logf("POST /login: Server-Timing: %s", token.serverTiming)
	if token.status != http.StatusOK {
		t.Fatalf("the password POST's answer is %d, not the token form", token.status)
	}
	if _, ok := token.phases(t)["signing"]; !ok {
		t.Errorf("the token response's Server-Timing %q has no signing time", token.serverTiming)
	}
}
