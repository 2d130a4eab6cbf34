package main

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// The journeys drive Gatehouse the way a browser does, with the scripted
// browser the tests use (internal/testenv/browse: cookie jar, redirects
// hop by hop, forms posted with their hidden CSRF and step fields). browse
// reports a failure through testing.TB.Fatal; failer turns that into a
// panic that attempt recovers as the journey's error.

// journeyFailure is why a journey did not end where it should.
type journeyFailure struct{ msg string }

func (f journeyFailure) Error() string { return f.msg }

// failer is the testing.TB browse needs. Only Helper, Fatal and Fatalf are
// called by browse; the embedded nil TB makes anything else fail loudly.
type failer struct{ testing.TB }

func (failer) Helper() {}

func (failer) Fatal(args ...any) { panic(journeyFailure{shorten(fmt.Sprint(args...))}) }

func (failer) Fatalf(format string, args ...any) {
	panic(journeyFailure{shorten(fmt.Sprintf(format, args...))})
}

// attempt runs fn and returns the journey failure it raised, if any.
func attempt(fn func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(journeyFailure)
			if !ok {
				panic(v)
			}
			err = f
		}
	}()
	fn()
	return nil
}

// fail stops the journey, saying where the browser was.
func fail(b *browse.Browser, what string) {
	panic(journeyFailure{fmt.Sprintf("%s (status %d at %s): %s", what, b.Status, pathOf(b.URL), shorten(pageError(b.Last)))})
}

func pathOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Path
}

var errorTextRe = regexp.MustCompile(`(?s)class="(?:field-error|error)"[^>]*>(.*?)<`)

// pageError is the error message shown on a page, or its beginning.
func pageError(page string) string {
	if m := errorTextRe.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return page
}

// shorten keeps error messages one line and short enough for the report.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// recorder counts a browser's requests and adds up the Server-Timing
// metrics of their responses.
type recorder struct {
	base http.RoundTripper

	mu       sync.Mutex
	requests int
	timed    int
	timing   map[string]float64
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if err == nil {
		if st := parseServerTiming(resp.Header.Values("Server-Timing")); st != nil {
			r.timed++
			if r.timing == nil {
				r.timing = map[string]float64{}
			}
			for k, v := range st {
				r.timing[k] += v
			}
		}
	}
	return resp, err
}

// take returns what was recorded since the last take and starts again.
func (r *recorder) take() (requests, timed int, timing map[string]float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	requests, timed, timing = r.requests, r.timed, r.timing
	r.requests, r.timed, r.timing = 0, 0, nil
	return requests, timed, timing
}

// Microsoft Entra ID's side of the WS-Federation exchange (ENTRA.md).
const (
	entraRealm = "urn:federation:MicrosoftOnline"
	entraReply = "https://login.microsoftonline.com/login.srf"
)

var (
	secretRe  = regexp.MustCompile(`(?s)<p class="secret"[^>]*>(.*?)</p>`)
	tagRe     = regexp.MustCompile(`<[^>]*>`)
	codesRe   = regexp.MustCompile(`<li>([a-z0-9]{5}-[a-z0-9]{5})</li>`)
	wresultRe = regexp.MustCompile(`name="wresult" value="([^"]+)"`)
)

// signInPath is what Entra sends a federated user to: a passive sign-in
// request with an opaque wctx and the user name typed at Microsoft.
func signInPath(u *user) string {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	q := url.Values{
		"wa": {"wsignin1.0"}, "wtrealm": {entraRealm}, "wctx": {"LoginOptions=3&estsredirect=2&estsrequest=bench"},
		"username": {u.upn}, "client-request-id": {hex.EncodeToString(id)},
	}
	return "/wsfed?" + q.Encode()
}

// checkToken requires the auto-POST form to Entra with a signed SAML 1.1
// token for u, claiming MFA. The browser would now post it to login.srf;
// that is Microsoft's side, so the journey ends here.
func checkToken(b *browse.Browser, u *user) {
	page := b.Last
	if b.Status != http.StatusOK || !strings.Contains(page, `action="`+entraReply+`"`) {
		fail(b, "no auto-POST form to Entra")
	}
	m := wresultRe.FindStringSubmatch(page)
	if m == nil {
		fail(b, "no wresult in the form")
	}
	wresult := html.UnescapeString(m[1])
	for _, want := range []string{"SignatureValue>", "urn:oasis:names:tc:SAML:1.0:assertion", u.upn, "multipleauthn"} {
		if !strings.Contains(wresult, want) {
			fail(b, "the token lacks "+want)
		}
	}
}

// A SAML 2.0 service provider of the run's configuration, inline (its
// ACS need not exist: the journey ends at the auto-POST form, as the
// WS-Fed one ends before Microsoft). It signs nothing and asks Gatehouse to
// sign the assertion only, like WS-Fed's one signature per token.
const (
	samlSP         = "https://wiki.bench.example/saml"
	samlACS        = "https://wiki.bench.example/saml/acs"
	samlRelayState = "https://wiki.bench.example/wiki/Start?bench=1&x=%2F"
	samlREFEDSMFA  = "https://refeds.org/profile/mfa"
)

var (
	samlResponseRe = regexp.MustCompile(`name="SAMLResponse" value="([^"]+)"`)
	relayStateRe   = regexp.MustCompile(`name="RelayState" value="([^"]*)"`)
)

// samlSignInPath is what the SP sends a user to: an AuthnRequest of a
// fresh ID over HTTP-Redirect (raw DEFLATE, base64, unsigned) with a
// RelayState, naming the user (subject, the UPN: as Entra's WS-Fed request
// carries username) when subject is set. It returns the request's ID too.
func samlSignInPath(base, subject string) (path, id string) {
	rnd := make([]byte, 16)
	_, _ = rand.Read(rnd)
	id = "_" + hex.EncodeToString(rnd)
	xml := `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"` +
		` ID="` + id + `" Version="2.0" IssueInstant="` + time.Now().UTC().Format("2006-01-02T15:04:05Z") + `"` +
		` Destination="` + html.EscapeString(base+"/saml/sso") + `" AssertionConsumerServiceURL="` + samlACS + `"` +
		` ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">` +
		`<saml:Issuer>` + samlSP + `</saml:Issuer>` + samlSubject(subject) +
		`<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/>` +
		`</samlp:AuthnRequest>`
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestSpeed)
	_, _ = fw.Write([]byte(xml))
	_ = fw.Close()
	q := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(z.Bytes())}, "RelayState": {samlRelayState}}
	return "/saml/sso?" + q.Encode(), id
}

// samlSubject is an AuthnRequest's Subject naming the user by name; empty
// for none.
func samlSubject(upn string) string {
	if upn == "" {
		return ""
	}
	return `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">` + html.EscapeString(upn) + `</saml:NameID></saml:Subject>`
}

// checkSAMLResponse requires the auto-POST form to the SP's ACS with a
// signed SAML 2.0 Response to request id for u, claiming MFA, and the
// RelayState unchanged: checked as little as checkToken checks WS-Fed's.
func checkSAMLResponse(b *browse.Browser, u *user, id string) {
	page := b.Last
	if b.Status != http.StatusOK || !strings.Contains(page, `action="`+samlACS+`"`) {
		fail(b, "no auto-POST form to the SP's ACS")
	}
	m, rs := samlResponseRe.FindStringSubmatch(page), relayStateRe.FindStringSubmatch(page)
	if m == nil {
		fail(b, "no SAMLResponse in the form")
	}
	if rs == nil || html.UnescapeString(rs[1]) != samlRelayState {
		fail(b, "the RelayState did not come back unchanged")
	}
	xml, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		fail(b, "the SAMLResponse is not base64")
	}
	for _, want := range []string{"SignatureValue>", "urn:oasis:names:tc:SAML:2.0:assertion", `InResponseTo="` + id + `"`,
		"urn:oasis:names:tc:SAML:2.0:status:Success", u.upn, samlREFEDSMFA} {
		if !bytes.Contains(xml, []byte(want)) {
			fail(b, "the response lacks "+want)
		}
	}
}

// enrolmentKey is the authenticator-app key the enrolment page shows (in
// groups of four), as a user types it: without spaces; "" when the page
// shows none.
func enrolmentKey(page string) string {
	m := secretRe.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(html.UnescapeString(tagRe.ReplaceAllString(m[1], " "))), "")
}

// enterTOTP answers the second-factor page with the next code of u's
// authenticator app.
func enterTOTP(b *browse.Browser, u *user) {
	if !strings.Contains(b.Last, `name="method" value="totp"`) {
		fail(b, "no authenticator-app code asked for")
	}
	u.submit.Lock()
	defer u.submit.Unlock()
	code, err := u.nextCode(time.Now())
	if err != nil {
		fail(b, err.Error())
	}
	b.Submit(map[string]string{"code": code})
}

// enrol is the set-up journey, not measured: the user's first sign-in
// through Entra, where Gatehouse makes them set up the authenticator app
// (MFA is required) and shows recovery codes, then issues the token (and,
// when SAML journeys run, a single sign-on to the SAML SP; when the eam
// journey runs, Entra sends the user once, which links their Entra
// account). The browser keeps the session for the SSO and password-change
// journeys.
func (r *runner) enrol(u *user) error {
	b, rec := r.newBrowser()
	defer rec.close()
	return attempt(func() {
		b.Get(signInPath(u))
		if !strings.Contains(b.Last, `name="password"`) {
			fail(b, "no password page")
		}
		b.Submit(map[string]string{"password": u.currentPassword()})
		if !secretRe.MatchString(b.Last) {
			// The enrolment page offers every method as equals and
			// begins none until one is chosen.
			b.Get(strings.TrimPrefix(b.URL, b.Base) + "&method=totp")
		}
		key := enrolmentKey(b.Last)
		if key == "" {
			fail(b, "no authenticator-app enrolment")
		}
		u.mu.Lock()
		u.secret = key
		u.mu.Unlock()
		code, err := u.nextCode(time.Now())
		if err != nil {
			fail(b, err.Error())
		}
		b.Submit(map[string]string{"code": code})
		if len(codesRe.FindAllStringSubmatch(b.Last, -1)) == 0 {
			fail(b, "no recovery codes after enrolment")
		}
		b.Submit(nil)
		checkToken(b, u)
		if r.saml {
			// The session signs in to the SAML SP once too, as it did to
			// Entra: each SSO journey then measures a session that knows
			// its application (the first sign-in to an app records it
			// for single logout, a write).
			path, id := samlSignInPath(r.base, "")
			b.Get(path)
			checkSAMLResponse(b, u, id)
		}
		if r.entra != nil {
			r.linkEAM(u)
		}
		u.sso, u.ssoRec = b, rec
	})
}

// signIn is the full Entra sign-in of a user without a session, in a new
// browser: the WS-Fed request, the password, the authenticator-app code,
// the signed token. pause, when set, is called at the code page (the held
// journeys of the RSS phase wait there).
func (r *runner) signIn(u *user, pause func()) (*recorder, error) {
	b, rec := r.newBrowser()
	defer rec.close()
	return rec, attempt(func() {
		b.Get(signInPath(u))
		if !strings.Contains(b.Last, `name="password"`) {
			fail(b, "no password page")
		}
		b.Submit(map[string]string{"password": u.currentPassword()})
		if pause != nil {
			pause()
		}
		enterTOTP(b, u)
		checkToken(b, u)
	})
}

// samlSignIn is an SP-initiated SAML 2.0 sign-in of a user without a
// session, in a new browser: the AuthnRequest naming the user (its
// Subject, as Entra's WS-Fed request carries username), the password,
// the authenticator-app code, the signed Response.
func (r *runner) samlSignIn(u *user) (*recorder, error) {
	b, rec := r.newBrowser()
	defer rec.close()
	return rec, attempt(func() {
		path, id := samlSignInPath(r.base, u.upn)
		b.Get(path)
		if !strings.Contains(b.Last, `name="password"`) {
			fail(b, "no password page")
		}
		b.Submit(map[string]string{"password": u.currentPassword()})
		enterTOTP(b, u)
		checkSAMLResponse(b, u, id)
	})
}

// samlSSO is the SP-initiated SAML 2.0 sign-in from a browser with a
// live session: one request, the Response straight away.
func (r *runner) samlSSO(u *user) (*recorder, error) {
	b, rec := u.sso, u.ssoRec
	rec.take()
	defer rec.close()
	return rec, attempt(func() {
		path, id := samlSignInPath(r.base, "")
		b.Get(path)
		checkSAMLResponse(b, u, id)
	})
}

// sso is the same Entra sign-in from a browser with a live session: one
// request, no password, the token straight away.
func (r *runner) sso(u *user) (*recorder, error) {
	b, rec := u.sso, u.ssoRec
	rec.take()
	defer rec.close()
	return rec, attempt(func() {
		b.Get(signInPath(u))
		checkToken(b, u)
	})
}

// changePassword is a signed-in user changing their password at
// /password/change: the form (no sign-in: the session is live), then the
// current and a new password, written to AD as a change by the user.
func (r *runner) changePassword(u *user) (*recorder, error) {
	b, rec := u.sso, u.ssoRec
	rec.take()
	defer rec.close()
	next := newPassword()
	posted := false
	err := attempt(func() {
		b.Get("/password/change")
		if !strings.Contains(b.Last, `name="current_password"`) {
			fail(b, "no password-change form")
		}
		posted = true
		b.Submit(map[string]string{"current_password": u.currentPassword(), "new_password": next, "confirm_password": next})
		if b.Status != http.StatusOK || !strings.Contains(b.Last, "Your password was changed") {
			fail(b, "password not changed")
		}
	})
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case err == nil:
		u.password = next
	case posted && (b.Status < 400 || b.Status >= 500):
		// No answer, or not a refusal: the change may or may not have
		// reached AD, so this user's password is unknown from now on.
		u.broken = err
	}
	return rec, err
}

// newBrowser is a new browser: its own cookie jar and its own connection
// to Gatehouse, kept alive between the requests of a journey and closed at
// its end (a user coming back later connects again), so n concurrent
// journeys are n connections, as n users' browsers would be.
func (r *runner) newBrowser() (*browse.Browser, *recorder) {
	b := browse.New(failer{}, r.base)
	rec := &recorder{base: &http.Transport{MaxIdleConnsPerHost: 6, IdleConnTimeout: 90 * time.Second}}
	b.C.Transport = rec
	b.C.Timeout = r.requestTimeout
	return b, rec
}

// close ends a browser's connections.
func (r *recorder) close() {
	if t, ok := r.base.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}
