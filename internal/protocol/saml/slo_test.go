package saml

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// postedMessage decodes the message of an HTTP-POST form.
func postedMessage(t *testing.T, m Outgoing) ([]byte, *etree.Element) {
	t.Helper()
	if len(m.Fields) == 0 {
		t.Fatalf("a form without fields: %+v", m)
	}
	raw, err := base64.StdEncoding.DecodeString(m.Fields[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	return raw, xmltest.Parse(t, raw)
}

// redirectMessage checks a HTTP-Redirect URL's signature with openssl
// against cert and returns the message and the query.
func redirectMessage(t *testing.T, rawURL, param string, e *sloEnv) (*etree.Element, url.Values) {
	t.Helper()
	octets, sig, q := signedOctets(t, rawURL)
	if err := opensslVerify(t, e.idp.Cert, octets, sig); err != nil {
		t.Errorf("openssl does not verify Gatehouse's signature on %.80s…: %v", rawURL, err)
	}
	return inflateParam(t, q.Get(param)), q
}

func status(t *testing.T, resp *etree.Element) (top, sub string) {
	t.Helper()
	code := xmltest.One(t, resp, "samlp:Status/samlp:StatusCode")
	if s := code.FindElement("samlp:StatusCode"); s != nil {
		sub = s.SelectAttrValue("Value", "")
	}
	return code.SelectAttrValue("Value", ""), sub
}

func (e *sloEnv) liveSessions(user string) int {
	e.t.Helper()
	ss, err := e.db.ListUserSessions(context.Background(), sloUser(e.t, user).ID, e.clock())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(ss)
}

func TestASignedLogoutRequestEndsTheSessionAndSignsOutTheOtherApplications(t *testing.T) {
	e := newSLOEnv(t)
	e.slo.Wait = 4 * time.Second
	b, idx := e.signIn("alice", spA, spB, spD, "wsfed:https://portal.example.org/ https://portal.example.org/alt")
	// The SPs know alice by NameIDs of their own.
	b.Get("/test/sso?sp=" + url.QueryEscape(spA) + "&nameid=alice-at-a")
	b.Get("/test/sso?sp=" + url.QueryEscape(spB) + "&nameid=alice-at-b")

	reqID, m := e.logoutRequest(spA, "alice-at-a", BindingRedirect, "rs-A", false, idx[spA])
	resp := e.do(b, m)
	if resp.status != http.StatusOK {
		t.Fatalf("status %d:\n%s", resp.status, resp.body)
	}
	// The session ended before any application was asked.
	if n := e.liveSessions("alice"); n != 0 {
		t.Errorf("%d sessions of alice live after the logout", n)
	}
	page := readFanOut(t, resp.body)
	if page.Wait != "4000" {
		t.Errorf("the page waits %q ms, want the configured 4000", page.Wait)
	}

	t.Run("SP B gets a signed LogoutRequest over HTTP-POST naming its NameID and SessionIndex", func(t *testing.T) {
		if len(page.Posts) != 1 || page.Posts[0].URL != e.sps[spB].SLO[0].Location || page.Posts[0].Fields[0].Name != ParamRequest {
			t.Fatalf("POST frames %+v", page.Posts)
		}
		raw, lr := postedMessage(t, page.Posts[0])
		if err := validators.XMLSec1(t, raw, sloPEM(e.idp.Cert), sloLogoutRequestID); err != nil {
			t.Errorf("xmlsec1 rejects it: %v", err)
		}
		sloCheckSignature(t, lr, e.idp.Cert, true)
		if lr.Tag != "LogoutRequest" || lr.SelectAttrValue("Destination", "") != e.sps[spB].SLO[0].Location ||
			xmltest.One(t, lr, "saml:Issuer").Text() != sloIssuer || lr.SelectAttrValue("NotOnOrAfter", "") == "" {
			t.Errorf("request %s %v", lr.Tag, lr.Attr)
		}
		if got := xmltest.One(t, lr, "saml:NameID").Text(); got != "alice-at-b" {
			t.Errorf("NameID %q, want B's", got)
		}
		if got := xmltest.One(t, lr, "samlp:SessionIndex").Text(); got != idx[spB] {
			t.Errorf("SessionIndex %q, want B's %q", got, idx[spB])
		}
	})
	t.Run("SP D gets one over HTTP-Redirect, and the WS-Fed relying party wsignoutcleanup1.0", func(t *testing.T) {
		if len(page.Gets) != 2 {
			t.Fatalf("GET frames %v", page.Gets)
		}
		if !strings.HasPrefix(page.Gets[0], "https://d.example.com/saml/logout?tenant=1&SAMLRequest=") {
			t.Fatalf("D's frame %s", page.Gets[0])
		}
		lr, _ := redirectMessage(t, page.Gets[0], ParamRequest, e)
		if xmltest.One(t, lr, "saml:NameID").Text() != "alice@corp.example.test" || xmltest.One(t, lr, "samlp:SessionIndex").Text() != idx[spD] {
			t.Errorf("D's request names %s", lr.FindElement("//NameID").Text())
		}
		if page.Gets[1] != "https://portal.example.org/alt?wa=wsignoutcleanup1.0" {
			t.Errorf("the relying party's frame %s, want its reply URL the token went to", page.Gets[1])
		}
	})
	t.Run("SP A gets a signed LogoutResponse to its ResponseLocation", func(t *testing.T) {
		if page.Finish == nil || page.Finish.Binding != BindingRedirect || !strings.HasPrefix(page.Finish.URL, "https://a.example.com/slo/done?SAMLResponse=") {
			t.Fatalf("finish %+v", page.Finish)
		}
		lresp, q := redirectMessage(t, page.Finish.URL, ParamResponse, e)
		if lresp.SelectAttrValue("InResponseTo", "") != reqID || lresp.SelectAttrValue("Destination", "") != "https://a.example.com/slo/done" ||
			q.Get(ParamRelayState) != "rs-A" {
			t.Errorf("response %v, RelayState %q", lresp.Attr, q.Get(ParamRelayState))
		}
		if top, sub := status(t, lresp); top != StatusSuccess || sub != "" {
			t.Errorf("status %s / %s, want Success", top, sub)
		}
		if strings.Contains(resp.body, "a.example.com/slo?") {
			t.Error("SP A, which asked, was sent a LogoutRequest too")
		}
	})
	t.Run("the page may frame exactly those applications' origins", func(t *testing.T) {
		if got := strings.Join(cspSources(resp.header, "frame-src"), " "); got != "'self' https://b.example.com:8443 https://d.example.com https://portal.example.org" {
			t.Errorf("frame-src %q", got)
		}
		if got := strings.Join(cspSources(resp.header, "form-action"), " "); got != "'self' https://b.example.com:8443" {
			t.Errorf("form-action %q", got)
		}
		for d, want := range map[string]string{"script-src": "'self'", "default-src": "'none'", "frame-ancestors": "'none'", "connect-src": "'self'"} {
			if got := strings.Join(cspSources(resp.header, d), " "); got != want {
				t.Errorf("%s %q, want %q", d, got, want)
			}
		}
	})
	t.Run("the sign-out is audited with the SP that asked", func(t *testing.T) {
		evs, _ := e.db.QueryAudit(context.Background(), store.AuditQuery{Type: audit.SignOut})
		var detail map[string]string
		if len(evs) != 1 || evs[0].App != "App A" || json.Unmarshal(evs[0].Detail, &detail) != nil || detail["via"] != "saml" || detail["participants"] != "6" {
			t.Errorf("audit %+v %v", evs, detail)
		}
	})
	t.Run("SP B's LogoutResponse comes back to Gatehouse inside the frame", func(t *testing.T) {
		el, err := NewLogoutResponse(LogoutResponseParams{IssueInstant: e.clock(), InResponseTo: "_x", Issuer: spB, Destination: e.srv.URL + PathSLO})
		if err != nil {
			t.Fatal(err)
		}
		got := e.do(nil, e.send(el, spB, BindingPOST, "", false))
		if got.status != http.StatusOK || !strings.Contains(got.body, "You are signed out.") {
			t.Fatalf("status %d:\n%s", got.status, got.body)
		}
		if fa := strings.Join(cspSources(got.header, "frame-ancestors"), " "); fa != "'self'" || got.header.Get("X-Frame-Options") != "SAMEORIGIN" {
			t.Errorf("the answer cannot show in Gatehouse's frame: frame-ancestors %q, X-Frame-Options %q", fa, got.header.Get("X-Frame-Options"))
		}
		// Signed with another SP's key: refused.
		forged := e.send(el, spD, BindingPOST, "", false)
		if got := e.do(nil, forged); got.status != http.StatusBadRequest {
			t.Errorf("a LogoutResponse with a forged signature: status %d", got.status)
		}
	})
	if e.signedIn(b) {
		t.Error("the browser is still signed in")
	}
}

func TestTheSessionEndsEvenWhenAnApplicationNeverAnswers(t *testing.T) {
	e := newSLOEnv(t)
	b, idx := e.signIn("alice", spA, spD)
	_, m := e.logoutRequest(spA, "alice@corp.example.test", BindingRedirect, "", false, idx[spA])
	resp := e.do(b, m)
	// D's sign-out page is never loaded (nothing here loads frames), and
	// yet the session is over, and the page moves on to A after a bounded
	// wait (logout.js) or with its Continue link.
	if n := e.liveSessions("alice"); n != 0 || e.signedIn(b) {
		t.Fatalf("%d sessions live", n)
	}
	page := readFanOut(t, resp.body)
	if len(page.Gets) != 1 || page.Finish == nil || page.Wait != "5000" || !strings.Contains(resp.body, `src="/static/logout.js"`) {
		t.Errorf("page %+v", page)
	}
}

func TestALogoutRequestActsOnTheBrowsersSessionOnlyWhenItNamesIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		// send builds the request from SP A, given alice's and bob's
		// SessionIndexes there.
		send func(e *sloEnv, alice, bob string) Outgoing
		// wantAlice and wantBob: their sessions go on.
		wantAlice, wantBob bool
		wantSub            string
	}{
		{"an unsigned request for another user's NameID with her SessionIndex", func(e *sloEnv, alice, _ string) Outgoing {
			_, m := e.logoutRequest(spA, "bob@corp.example.test", BindingRedirect, "", true, alice)
			return m
		}, true, true, StatusPartialLogout},
		{"an unsigned request for her NameID without a SessionIndex", func(e *sloEnv, _, _ string) Outgoing {
			_, m := e.logoutRequest(spA, "alice@corp.example.test", BindingRedirect, "", true)
			return m
		}, true, true, StatusPartialLogout},
		{"an unsigned request for her NameID with another session's SessionIndex", func(e *sloEnv, _, bob string) Outgoing {
			_, m := e.logoutRequest(spA, "alice@corp.example.test", BindingRedirect, "", true, bob)
			return m
		}, true, true, StatusPartialLogout},
		{"an unsigned request for bob, whose session is elsewhere", func(e *sloEnv, _, bob string) Outgoing {
			_, m := e.logoutRequest(spA, "bob@corp.example.test", BindingRedirect, "", true, bob)
			return m
		}, true, true, StatusPartialLogout},
		{"a signed request for bob, whose session is elsewhere: his ends, hers goes on", func(e *sloEnv, _, bob string) Outgoing {
			_, m := e.logoutRequest(spA, "bob@corp.example.test", BindingRedirect, "", false, bob)
			return m
		}, true, false, ""},
		{"an unsigned request naming her session by NameID and SessionIndex", func(e *sloEnv, alice, _ string) Outgoing {
			_, m := e.logoutRequest(spA, "alice@corp.example.test", BindingRedirect, "", true, alice)
			return m
		}, false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSLOEnv(t)
			b, alice := e.signIn("alice", spA)
			bobBrowser, bob := e.signIn("bob", spA)
			resp := e.do(b, tc.send(e, alice[spA], bob[spA]))
			if resp.status != http.StatusSeeOther {
				t.Fatalf("status %d, want a redirect to A's LogoutResponse:\n%s", resp.status, resp.body)
			}
			if got := e.signedIn(b); got != tc.wantAlice {
				t.Errorf("alice signed in: %v, want %v", got, tc.wantAlice)
			}
			if got := e.signedIn(bobBrowser); got != tc.wantBob {
				t.Errorf("bob signed in: %v, want %v", got, tc.wantBob)
			}
			lresp, _ := redirectMessage(t, resp.header.Get("Location"), ParamResponse, e)
			if top, sub := status(t, lresp); top != StatusSuccess || sub != tc.wantSub {
				t.Errorf("A is told %s / %q, want Success / %q", top, sub, tc.wantSub)
			}
		})
	}
}

func TestAMessageThatCannotBeTrustedEndsNothingAndIsNotAnswered(t *testing.T) {
	e := newSLOEnv(t)
	b, idx := e.signIn("alice", spA, spB)
	unsignedFromB := func() Outgoing {
		_, m := e.logoutRequest(spB, "alice@corp.example.test", BindingRedirect, "", true, idx[spB])
		return m
	}
	forgedFromA := func() Outgoing {
		_, m := e.logoutRequest(spA, "alice@corp.example.test", BindingRedirect, "", false, idx[spA])
		m.URL = strings.Replace(m.URL, "SigAlg=", "RelayState=x&SigAlg=", 1)
		return m
	}
	unknownSP := func() Outgoing {
		el, _ := NewLogoutRequest(LogoutRequestParams{IssueInstant: e.clock(), Issuer: "https://evil.example.com", Destination: e.srv.URL + PathSLO,
			NameID: NameID{Value: "alice@corp.example.test"}, SessionIndexes: []string{idx[spA]}})
		return e.send(el, spA, BindingRedirect, "", false)
	}
	for name, m := range map[string]Outgoing{
		"an unsigned request from an SP that signs":  unsignedFromB(),
		"a request whose signed octets were changed": forgedFromA(),
		"a request from an unknown SP":               unknownSP(),
		"neither a request nor a response":           {Binding: BindingRedirect, URL: e.srv.URL + PathSLO + "?RelayState=x"},
		"a request that is not base64":               {Binding: BindingPOST, URL: e.srv.URL + PathSLO, Fields: []Field{{ParamRequest, "%%%"}}},
	} {
		t.Run(name, func(t *testing.T) {
			resp := e.do(b, m)
			if resp.status != http.StatusBadRequest || resp.header.Get("Location") != "" {
				t.Errorf("status %d, Location %q", resp.status, resp.header.Get("Location"))
			}
			if !e.signedIn(b) {
				t.Fatal("the session ended")
			}
		})
	}
}

func TestALogoutRequestPostedFromAnotherSiteIsPostedAgainToGetTheCookie(t *testing.T) {
	e := newSLOEnv(t)
	b, idx := e.signIn("alice", spA, spB)
	reqID, m := e.logoutRequest(spA, "alice@corp.example.test", BindingPOST, "rs-post", false, idx[spA])

	first := e.do(nil, m)
	page := readFanOut(t, first.body)
	if first.status != http.StatusOK || page.Finish == nil || page.Finish.URL != PathSLO || len(page.Gets)+len(page.Posts) != 0 {
		t.Fatalf("status %d, page %+v", first.status, page)
	}
	if v := page.Finish.Values(); v.Get(ParamRequest) != m.Fields[0].Value || v.Get(ParamRelayState) != "rs-post" || v.Get(repostField) == "" {
		t.Errorf("the re-post carries %v", v)
	}
	if !e.signedIn(b) {
		t.Fatal("the session ended before the request was read")
	}

	resp := e.do(b, *page.Finish)
	fan := readFanOut(t, resp.body)
	if e.signedIn(b) {
		t.Fatal("the session goes on")
	}
	if len(fan.Posts) != 1 || fan.Finish == nil || fan.Finish.URL != "https://a.example.com/slo-post" {
		t.Fatalf("page %+v", fan)
	}
	raw, lresp := postedMessage(t, *fan.Finish)
	if err := validators.XMLSec1(t, raw, sloPEM(e.idp.Cert), sloLogoutResponseID); err != nil {
		t.Errorf("xmlsec1 rejects A's LogoutResponse: %v", err)
	}
	if lresp.SelectAttrValue("InResponseTo", "") != reqID || fan.Finish.Values().Get(ParamRelayState) != "rs-post" {
		t.Errorf("response %v, fields %v", lresp.Attr, fan.Finish.Values())
	}
	if got := strings.Join(cspSources(resp.header, "form-action"), " "); got != "'self' https://b.example.com:8443 https://a.example.com" {
		t.Errorf("form-action %q", got)
	}
}

func TestASignedLogoutRequestWithoutAnyCookieEndsTheSessionItsSessionIndexNames(t *testing.T) {
	e := newSLOEnv(t)
	b, idx := e.signIn("alice", spA, spB)
	_, m := e.logoutRequest(spA, "alice@corp.example.test", BindingPOST, "", false, idx[spA])
	page := readFanOut(t, e.do(nil, m).body)
	if page.Finish == nil {
		t.Fatal("no re-post")
	}
	resp := e.do(nil, *page.Finish) // the re-post, in a browser without Gatehouse's cookie
	fan := readFanOut(t, resp.body)
	if e.signedIn(b) {
		t.Error("the session its SessionIndex names goes on")
	}
	if len(fan.Posts) != 1 || fan.Posts[0].URL != e.sps[spB].SLO[0].Location {
		t.Errorf("B is not told: %+v", fan)
	}
	_, lresp := postedMessage(t, *fan.Finish)
	if top, sub := status(t, lresp); top != StatusSuccess || sub != "" {
		t.Errorf("A is told %s / %s", top, sub)
	}
}

func TestAnApplicationThatCannotBeToldMakesTheLogoutPartial(t *testing.T) {
	e := newSLOEnv(t)
	b, idx := e.signIn("alice", spA, spC, "https://gone.example.com/sp", spD)
	_, m := e.logoutRequest(spA, "alice@corp.example.test", BindingRedirect, "", false, idx[spA])
	resp := e.do(b, m)
	page := readFanOut(t, resp.body)
	if len(page.Gets) != 1 || page.Finish == nil {
		t.Fatalf("page %+v", page)
	}
	lresp, _ := redirectMessage(t, page.Finish.URL, ParamResponse, e)
	if top, sub := status(t, lresp); top != StatusSuccess || sub != StatusPartialLogout {
		t.Errorf("A is told %s / %q: C has no SingleLogoutService and the gone SP is not configured", top, sub)
	}
	if e.signedIn(b) {
		t.Error("the session goes on")
	}
}

func TestSigningOutOfGatehouseSignsOutTheSessionsApplications(t *testing.T) {
	e := newSLOEnv(t)
	b, idx := e.signIn("alice", spA, spB, "wsfed:https://portal.example.org/ https://evil.example.com/steal")
	b.Get("/logout")
	body := b.Submit(nil)
	page := readFanOut(t, body)
	if e.signedIn(b) {
		t.Fatal("the session goes on")
	}
	if len(page.Posts) != 1 || len(page.Gets) != 2 || page.Finish != nil || !strings.Contains(body, `href="/login"`) {
		t.Fatalf("page %+v\n%s", page, body)
	}
	lr, _ := redirectMessage(t, page.Gets[0], ParamRequest, e)
	if !strings.HasPrefix(page.Gets[0], "https://a.example.com/slo?") || xmltest.One(t, lr, "samlp:SessionIndex").Text() != idx[spA] {
		t.Errorf("A's frame %s", page.Gets[0])
	}
	// The reply URL recorded with the participant is not the relying
	// party's: its configured one is used.
	if page.Gets[1] != "https://portal.example.org/signin-wsfed?wa=wsignoutcleanup1.0" {
		t.Errorf("the relying party's frame %s", page.Gets[1])
	}
	if strings.Contains(b.Header.Get("Content-Security-Policy"), "evil") {
		t.Error("the page may frame an address from the session")
	}

	t.Run("without participants the page is the plain signed-out page", func(t *testing.T) {
		b := browse.New(t, e.srv.URL)
		b.Get("/test/sso?sp=" + url.QueryEscape(spA))
		b.Submit(map[string]string{"login": "bob"})
		b.Submit(map[string]string{"password": sloPassword})
		// bob's only participant is the SP he signs out of here, so
		// Gatehouse's own sign-out tells it.
		b.Get("/logout")
		if page := readFanOut(t, b.Submit(nil)); len(page.Gets) != 1 {
			t.Errorf("page %+v", page)
		}
		b.Get("/logout")
		if body := b.Submit(nil); !strings.Contains(body, "You are signed out.") || strings.Contains(body, "logout-fanout") {
			t.Errorf("a second sign-out:\n%s", body)
		}
	})
}

func TestFanOutGoesOnlyWhereItIsSentFromConfiguration(t *testing.T) {
	e := newSLOEnv(t)
	ps := []signin.Participant{{Protocol: signin.ProtocolWSFed, App: "Portal", EntityID: "https://portal.example.org/"}}
	for _, tc := range []struct {
		done    string
		wantErr bool
	}{
		{"https://portal.example.org/signin-wsfed", false},
		{"/account", false},
		{"", false},
		{"javascript:alert(1)", true},
		{"//evil.example.com/", true},
		{"/\\evil.example.com", true},
	} {
		t.Run(tc.done, func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := e.slo.FanOut(rec, httptest.NewRequest(http.MethodPost, "/logout", nil), ps, tc.done)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if err != nil {
				return
			}
			page := readFanOut(t, rec.Body.String())
			if len(page.Gets) != 1 || (tc.done != "") != (page.Finish != nil) || (page.Finish != nil && page.Finish.URL != tc.done) {
				t.Errorf("page %+v", page)
			}
		})
	}
	t.Run("without frames the browser goes on at once", func(t *testing.T) {
		rec := httptest.NewRecorder()
		if err := e.slo.FanOut(rec, httptest.NewRequest(http.MethodGet, "/wsfed", nil), nil, "https://portal.example.org/signin-wsfed"); err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "https://portal.example.org/signin-wsfed" {
			t.Errorf("status %d, Location %q", rec.Code, rec.Header().Get("Location"))
		}
	})
}

func TestTheParticipantsAreToldInTheOrderTheyCameOncePerApplication(t *testing.T) {
	e := newSLOEnv(t)
	frames, unreachable := e.slo.frames(context.Background(), []signin.Participant{
		{Protocol: signin.ProtocolSAML, EntityID: spD, NameID: "old", SessionIndex: "_i"},
		{Protocol: signin.ProtocolWSFed, EntityID: "https://portal.example.org/"},
		{Protocol: signin.ProtocolSAML, EntityID: spD, NameID: "new", SessionIndex: "_i"},
		{Protocol: "oidc", EntityID: "x"},
	})
	if len(frames) != 2 || unreachable != 1 || frames[0].App != "App D" || frames[1].App != "Portal" {
		t.Fatalf("frames %+v, unreachable %d", frames, unreachable)
	}
	lr, _ := redirectMessage(t, frames[0].Src, ParamRequest, e)
	if got := xmltest.One(t, lr, "saml:NameID").Text(); got != "new" {
		t.Errorf("D is told NameID %q, want the newest", got)
	}
	if !slices.ContainsFunc(frames, func(f fanOutFrame) bool { return f.Name == "gh-slo-1" }) {
		t.Error("frames are not named in order")
	}
}

func TestAWSFedSignOutSignsOutTheSessionsOtherApplications(t *testing.T) {
	e := newSLOEnv(t)
	b, idx := e.signIn("alice", spA)
	// A WS-Fed sign-in records the relying party in the session.
	page := b.Get("/wsfed?wa=wsignin1.0&wtrealm=" + url.QueryEscape("https://portal.example.org/") + "&wreply=" + url.QueryEscape("https://portal.example.org/alt"))
	if !strings.Contains(page, `action="https://portal.example.org/alt"`) {
		t.Fatalf("no token for the portal:\n%s", page)
	}
	ss, _ := e.db.ListUserSessions(context.Background(), sloUser(t, "alice").ID, e.clock())
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	ps, _ := e.sessions.Participants(context.Background(), ss[0].ID)
	want := signin.Participant{Protocol: signin.ProtocolWSFed, App: "Portal", EntityID: "https://portal.example.org/", ReplyURL: "https://portal.example.org/alt"}
	if len(ps) != 2 || ps[1] != want {
		t.Errorf("participants %+v", ps)
	}

	resp := e.do(b, Outgoing{Binding: BindingRedirect, URL: e.srv.URL + "/wsfed?wa=wsignout1.0&wtrealm=" + url.QueryEscape("https://portal.example.org/") +
		"&wreply=" + url.QueryEscape("https://portal.example.org/signin-wsfed")})
	fan := readFanOut(t, resp.body)
	if e.signedIn(b) {
		t.Fatal("the session goes on")
	}
	// A is told; the portal, which asked, is not asked back, and gets the
	// browser back at its reply URL.
	if len(fan.Gets) != 1 || !strings.HasPrefix(fan.Gets[0], "https://a.example.com/slo?") || len(fan.Posts) != 0 {
		t.Fatalf("frames %+v", fan)
	}
	lr, _ := redirectMessage(t, fan.Gets[0], ParamRequest, e)
	if xmltest.One(t, lr, "samlp:SessionIndex").Text() != idx[spA] {
		t.Error("A is told another SessionIndex")
	}
	if fan.Finish == nil || fan.Finish.URL != "https://portal.example.org/signin-wsfed" {
		t.Errorf("finish %+v", fan.Finish)
	}
	evs, _ := e.db.QueryAudit(context.Background(), store.AuditQuery{Type: audit.SignOut})
	if len(evs) != 1 || evs[0].App != "Portal" {
		t.Errorf("audit %+v", evs)
	}
}
