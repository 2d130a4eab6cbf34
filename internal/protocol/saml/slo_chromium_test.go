package saml

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/test/e2e"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// The sign-out page in a real browser: logout.js loads every frame under
// the page's own CSP (any violation fails the test, see e2e.NewBrowser),
// posts the HTTP-POST requests into theirs, and moves on to the SP that
// asked. Chromium reaches no SP: every https request is answered locally
// by the harness (e2e.Browser.Intercept) and recorded.

// chromiumSignIn signs alice in in Chromium and SSOs her to each SP,
// returning the SessionIndexes.
func chromiumSignIn(t *testing.T, e *sloEnv, b *e2e.Browser, sps ...string) map[string]string {
	t.Helper()
	idx := map[string]string{}
	for i, sp := range sps {
		b.Do(chromedp.Navigate(e.srv.URL + "/test/sso?sp=" + url.QueryEscape(sp)))
		if i == 0 {
			b.Do(chromedp.WaitVisible(chromedp.ID("login")), chromedp.SendKeys(chromedp.ID("login"), "alice"), chromedp.Submit(chromedp.ID("login")),
				chromedp.WaitVisible(chromedp.ID("password")), chromedp.SendKeys(chromedp.ID("password"), sloPassword), chromedp.Submit(chromedp.ID("password")))
		}
		b.Do(chromedp.WaitReady("body"))
		text := b.Text("body")
		got, ok := strings.CutPrefix(strings.TrimSpace(text), "session-index=")
		if !ok {
			t.Fatalf("SSO to %s: %q", sp, text)
		}
		idx[sp] = got
	}
	return idx
}

// awaitIntercepted collects what Chromium sent to the SPs until a request
// for which last returns true arrives.
func awaitIntercepted(t *testing.T, ch <-chan e2e.Intercepted, last func(e2e.Intercepted) bool) []e2e.Intercepted {
	t.Helper()
	guard := time.After(e2e.DefaultTimeout) // a hung browser, not a performance bound
	var got []e2e.Intercepted
	for {
		select {
		case in := <-ch:
			got = append(got, in)
			if last(in) {
				return got
			}
		case <-guard:
			t.Fatalf("the browser never went on to the SP that asked; it sent %+v", got)
			return nil
		}
	}
}

func TestInChromiumTheSignOutPageSignsOutEveryApplicationThenAnswersTheSP(t *testing.T) {
	e := newSLOEnv(t)
	// Long enough that only the frames' answers can move the page on.
	e.slo.Wait = 10 * time.Minute
	b := e2e.NewBrowser(t)
	sent := b.Intercept("https://*")
	idx := chromiumSignIn(t, e, b, spA, spB, spD)
	b.Do(chromedp.Navigate(e.srv.URL + "/test/sso?realm=" + url.QueryEscape("https://portal.example.org/") + "&reply=" + url.QueryEscape("https://portal.example.org/alt")))

	reqID, m := e.logoutRequest(spA, "alice@corp.example.test", BindingRedirect, "rs-A", false, idx[spA])
	b.Do(chromedp.Navigate(m.URL))
	got := awaitIntercepted(t, sent, func(in e2e.Intercepted) bool { return strings.HasPrefix(in.URL, "https://a.example.com/") })

	seen := map[string]e2e.Intercepted{}
	for _, in := range got {
		u, _ := url.Parse(in.URL)
		seen[u.Host] = in
	}
	if in, ok := seen["b.example.com:8443"]; !ok || in.Method != http.MethodPost {
		t.Errorf("B got no LogoutRequest by POST: %+v", got)
	} else {
		form, err := url.ParseQuery(string(in.Body))
		if err != nil {
			t.Fatal(err)
		}
		raw, lr := postedMessage(t, Outgoing{Fields: []Field{{ParamRequest, form.Get(ParamRequest)}}})
		if err := validators.XMLSec1(t, raw, sloPEM(e.idp.Cert), sloLogoutRequestID); err != nil {
			t.Errorf("xmlsec1 rejects what B got: %v", err)
		}
		if lr.FindElement("//SessionIndex").Text() != idx[spB] {
			t.Error("B's SessionIndex is not the one it was given")
		}
	}
	if in, ok := seen["d.example.com"]; !ok || in.Method != http.MethodGet || !strings.Contains(in.URL, "SAMLRequest=") {
		t.Errorf("D got no LogoutRequest by GET: %+v", got)
	}
	if in, ok := seen["portal.example.org"]; !ok || in.URL != "https://portal.example.org/alt?wa=wsignoutcleanup1.0" {
		t.Errorf("the portal got no wsignoutcleanup1.0: %+v", got)
	}
	last := got[len(got)-1]
	if !strings.HasPrefix(last.URL, "https://a.example.com/slo/done?SAMLResponse=") {
		t.Fatalf("A got %s", last.URL)
	}
	lresp, q := redirectMessage(t, last.URL, ParamResponse, e)
	if lresp.SelectAttrValue("InResponseTo", "") != reqID || q.Get(ParamRelayState) != "rs-A" {
		t.Errorf("A's response %v, RelayState %q", lresp.Attr, q.Get(ParamRelayState))
	}
	if n := e.liveSessions("alice"); n != 0 {
		t.Errorf("%d sessions live", n)
	}
}

func TestInChromiumTheSignOutPageMovesOnWhenAnApplicationNeverAnswers(t *testing.T) {
	e := newSLOEnv(t)
	e.slo.Wait = 2 * time.Second
	// D's sign-out page never answers.
	block := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(block) })
	e.sps[spD].SLO = []Endpoint{{Binding: BindingRedirect, Location: hung.URL + "/slo"}}

	b := e2e.NewBrowser(t)
	sent := b.Intercept("https://*")
	idx := chromiumSignIn(t, e, b, spA, spD)
	_, m := e.logoutRequest(spA, "alice@corp.example.test", BindingRedirect, "", false, idx[spA])
	b.Do(chromedp.Navigate(m.URL))
	awaitIntercepted(t, sent, func(in e2e.Intercepted) bool {
		return strings.HasPrefix(in.URL, "https://a.example.com/slo/done?SAMLResponse=")
	})
	if n := e.liveSessions("alice"); n != 0 {
		t.Errorf("%d sessions live", n)
	}
}
