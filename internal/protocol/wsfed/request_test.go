package wsfed

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// entraQuery is what Entra sends to the passive endpoint.
func entraQuery(extra ...string) url.Values {
	q := url.Values{
		"wa": {"wsignin1.0"}, "wtrealm": {EntraRealm},
		"wctx":     {"LoginOptions=3&estsredirect=2&estsrequest=rQQIARAAhZK9a9tAGMZl2bGTNCWhUx4KzdCpnS1FtS0JMGmKjyWmSwtLbKV-ysLSKLWmX9x9lM9o=Ll=/+"},
		"username": {"alice@corp.example.com"}, "client-request-id": {"4f2b7f3c-6c45-4b0c-9a2b-7a8f0f1e2d3c"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

func TestAnEntraSignInRequestIsParsedIntoItsMeaning(t *testing.T) {
	reg := entraRegistry(t)
	d := func(x time.Duration) *time.Duration { return &x }
	cases := []struct {
		name              string
		q                 url.Values
		reply             string
		mfa, force        bool
		maxAge, mfaMaxAge *time.Duration
		hint              string
	}{
		{"a plain request", entraQuery(), EntraReplyURL, false, false, nil, nil, "alice@corp.example.com"},
		{"an explicit wreply that is Entra's", entraQuery("wreply", EntraReplyURL), EntraReplyURL, false, false, nil, nil, "alice@corp.example.com"},
		{"wauth multipleauthn asks for MFA", entraQuery("wauth", "http://schemas.microsoft.com/claims/multipleauthn", "wfresh", "0"), EntraReplyURL, true, true, d(0), nil, "alice@corp.example.com"},
		{"wfresh=0 forces authentication", entraQuery("wfresh", "0"), EntraReplyURL, false, true, d(0), nil, "alice@corp.example.com"},
		{"wfresh=30 bounds the session age", entraQuery("wfresh", "30"), EntraReplyURL, false, false, d(30 * time.Minute), nil, "alice@corp.example.com"},
		{"prompt=login forces authentication", entraQuery("prompt", "login"), EntraReplyURL, false, true, nil, nil, "alice@corp.example.com"},
		{"wauth password (https) forces authentication", entraQuery("wauth", "https://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"), EntraReplyURL, false, true, nil, nil, "alice@corp.example.com"},
		{"wauth password (http) forces authentication", entraQuery("wauth", "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"), EntraReplyURL, false, true, nil, nil, "alice@corp.example.com"},
		{"an unknown wauth asks for nothing more", entraQuery("wauth", "urn:oasis:names:tc:SAML:1.0:am:password"), EntraReplyURL, false, false, nil, nil, "alice@corp.example.com"},
		{"mfa_max_age in seconds", entraQuery("mfa_max_age", "3600"), EntraReplyURL, false, false, nil, d(time.Hour), "alice@corp.example.com"},
		{"login_hint when there is no username", func() url.Values { q := entraQuery("login_hint", "bob@corp.example.com"); q.Del("username"); return q }(), EntraReplyURL, false, false, nil, nil, "bob@corp.example.com"},
		{"username wins over login_hint", entraQuery("login_hint", "bob@corp.example.com"), EntraReplyURL, false, false, nil, nil, "alice@corp.example.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseSignIn(c.q, reg)
			if err != nil {
				t.Fatal(err)
			}
			if r.RP.Name != "Microsoft 365" || r.Reply != c.reply || r.RequireMFA != c.mfa || r.ForceAuthn != c.force || r.LoginHint != c.hint {
				t.Errorf("got rp %q reply %q mfa %v force %v hint %q", r.RP.Name, r.Reply, r.RequireMFA, r.ForceAuthn, r.LoginHint)
			}
			if r.Context != c.q.Get("wctx") {
				t.Errorf("wctx changed: %q", r.Context)
			}
			if !sameDuration(r.MaxAuthAge, c.maxAge) || !sameDuration(r.MFAMaxAge, c.mfaMaxAge) {
				t.Errorf("max ages %v %v, want %v %v", r.MaxAuthAge, r.MFAMaxAge, c.maxAge, c.mfaMaxAge)
			}
		})
	}
}

func sameDuration(a, b *time.Duration) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func TestBadSignInRequestsGetAPreciseError(t *testing.T) {
	reg := entraRegistry(t)
	cases := []struct {
		name  string
		q     url.Values
		param string
		want  error
	}{
		{"no wa", func() url.Values { q := entraQuery(); q.Del("wa"); return q }(), "wa", ErrMissingParameter},
		{"an unknown wa", entraQuery("wa", "wsignin2.0"), "wa", ErrBadAction},
		{"a sign-out where a sign-in is expected", entraQuery("wa", "wsignout1.0"), "wa", ErrBadAction},
		{"no wtrealm", func() url.Values { q := entraQuery(); q.Del("wtrealm"); return q }(), "wtrealm", ErrMissingParameter},
		{"an unknown realm", entraQuery("wtrealm", "urn:federation:Evil"), "wtrealm", ErrUnknownRealm},
		{"a realm differing only in case", entraQuery("wtrealm", "urn:federation:microsoftonline"), "wtrealm", ErrUnknownRealm},
		{"a foreign wreply", entraQuery("wreply", "https://evil.example/login.srf"), "wreply", ErrReplyNotAllowed},
		{"a wreply with a trailing slash", entraQuery("wreply", EntraReplyURL+"/"), "wreply", ErrReplyNotAllowed},
		{"a wreply with another query", entraQuery("wreply", EntraReplyURL+"?x=1"), "wreply", ErrReplyNotAllowed},
		{"another relying party's wreply", entraQuery("wreply", "https://wiki.corp.example.com/signin-wsfed"), "wreply", ErrReplyNotAllowed},
		{"an oversize wctx", entraQuery("wctx", strings.Repeat("x", 8193)), "wctx", ErrParameterTooLong},
		{"an oversize username", entraQuery("username", strings.Repeat("x", 1025)+"@corp.example.com"), "username", ErrParameterTooLong},
		{"an oversize unknown parameter", entraQuery("mkt", strings.Repeat("x", DefaultParamLimit+1)), "mkt", ErrParameterTooLong},
		{"an oversize wreply", entraQuery("wreply", "https://x/"+strings.Repeat("x", 2048)), "wreply", ErrParameterTooLong},
		{"an oversize wtrealm", entraQuery("wtrealm", strings.Repeat("x", 1025)), "wtrealm", ErrParameterTooLong},
		{"a repeated wreply", func() url.Values {
			q := entraQuery()
			q["wreply"] = []string{EntraReplyURL, "https://evil.example/"}
			return q
		}(), "wreply", ErrBadParameter},
		{"a control character in wctx", entraQuery("wctx", "a\nb"), "wctx", ErrBadParameter},
		{"invalid UTF-8", entraQuery("username", "alice\xff"), "username", ErrBadParameter},
		{"a negative wfresh", entraQuery("wfresh", "-1"), "wfresh", ErrBadParameter},
		{"a word for wfresh", entraQuery("wfresh", "soon"), "wfresh", ErrBadParameter},
		{"a bad mfa_max_age", entraQuery("mfa_max_age", "1.5"), "mfa_max_age", ErrBadParameter},
		{"too many parameters", func() url.Values {
			q := entraQuery()
			for i := 0; i < MaxParams; i++ {
				q.Set("p"+strings.Repeat("x", i), "1")
			}
			return q
		}(), "(query)", ErrTooManyParameters},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseSignIn(c.q, reg)
			var re *RequestError
			if r != nil || !errors.As(err, &re) || !errors.Is(err, c.want) || re.Param != c.param {
				t.Fatalf("ParseSignIn = %v, %v; want a %q error on %s", r, err, c.want, c.param)
			}
			if len(err.Error()) > 300 {
				t.Errorf("the error repeats too much of the input: %d bytes", len(err.Error()))
			}
		})
	}
}

func TestAGenericRelyingPartyMayChooseAmongItsReplyURLs(t *testing.T) {
	reg := entraRegistry(t)
	q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"https://wiki.corp.example.com/"}}
	r, err := ParseSignIn(q, reg)
	if err != nil || r.Reply != "https://wiki.corp.example.com/signin-wsfed" || r.Context != "" {
		t.Fatalf("default reply: %+v, %v", r, err)
	}
	q.Set("wreply", "https://wiki.corp.example.com/signin-wsfed?alt=1")
	if r, err = ParseSignIn(q, reg); err != nil || r.Reply != "https://wiki.corp.example.com/signin-wsfed?alt=1" {
		t.Fatalf("second reply URL: %+v, %v", r, err)
	}
}

func TestSignOutRedirectsOnlyToAKnownReplyURL(t *testing.T) {
	reg := entraRegistry(t)
	cases := []struct {
		name   string
		q      url.Values
		action Action
		rp     string
		reply  string
		err    error
	}{
		{"a bare sign-out", url.Values{"wa": {"wsignout1.0"}}, ActionSignOut, "", "", nil},
		{"a cleanup", url.Values{"wa": {"wsignoutcleanup1.0"}}, ActionSignOutCleanup, "", "", nil},
		{"with realm and its reply URL", url.Values{"wa": {"wsignout1.0"}, "wtrealm": {EntraRealm}, "wreply": {EntraReplyURL}}, ActionSignOut, "Microsoft 365", EntraReplyURL, nil},
		{"without realm, a reply URL of some relying party", url.Values{"wa": {"wsignout1.0"}, "wreply": {"https://wiki.corp.example.com/signin-wsfed"}}, ActionSignOut, "", "https://wiki.corp.example.com/signin-wsfed", nil},
		{"with realm, another relying party's reply URL", url.Values{"wa": {"wsignout1.0"}, "wtrealm": {EntraRealm}, "wreply": {"https://wiki.corp.example.com/signin-wsfed"}}, ActionSignOut, "Microsoft 365", "", ErrReplyNotAllowed},
		{"a foreign reply URL", url.Values{"wa": {"wsignoutcleanup1.0"}, "wreply": {"https://evil.example/"}}, ActionSignOutCleanup, "", "", ErrReplyNotAllowed},
		{"an unknown realm", url.Values{"wa": {"wsignout1.0"}, "wtrealm": {"urn:unknown"}, "wreply": {EntraReplyURL}}, ActionSignOut, "", "", ErrUnknownRealm},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseSignOut(c.q, reg)
			if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if r == nil {
				t.Fatal("no request returned; the session must still be ended")
			}
			rp := ""
			if r.RP != nil {
				rp = r.RP.Name
			}
			if r.Action != c.action || rp != c.rp || r.Reply != c.reply {
				t.Errorf("got %s %q %q, want %s %q %q", r.Action, rp, r.Reply, c.action, c.rp, c.reply)
			}
		})
	}
	if r, err := ParseSignOut(url.Values{"wa": {"wsignin1.0"}}, reg); r != nil || !errors.Is(err, ErrBadAction) {
		t.Errorf("a sign-in given to ParseSignOut: %v, %v", r, err)
	}
}

func TestTheRegistryRefusesAmbiguousOrUnsafeRelyingParties(t *testing.T) {
	ok := RelyingParty{Name: "a", Realm: "urn:a", Issuer: "https://sso", ReplyURLs: []string{"https://a.example/"}}
	cases := []struct {
		name string
		rps  []RelyingParty
		want string
	}{
		{"two with one realm", []RelyingParty{ok, ok}, "realm"},
		{"a plain-http reply URL", []RelyingParty{{Name: "b", Realm: "urn:b", Issuer: "https://sso", ReplyURLs: []string{"http://b.example/"}}}, "https"},
		{"a relative reply URL", []RelyingParty{{Name: "b", Realm: "urn:b", Issuer: "https://sso", ReplyURLs: []string{"/signin"}}}, "absolute"},
		{"a reply URL with a fragment", []RelyingParty{{Name: "b", Realm: "urn:b", Issuer: "https://sso", ReplyURLs: []string{"https://b.example/#x"}}}, "fragment"},
		{"a plain-http reply URL to a name that only starts like a loopback address", []RelyingParty{{Name: "b", Realm: "urn:b", Issuer: "https://sso", ReplyURLs: []string{"http://127.0.0.1.evil.example/"}}}, "https"},
		{"a reply URL with user information", []RelyingParty{{Name: "b", Realm: "urn:b", Issuer: "https://sso", ReplyURLs: []string{"https://b.example@evil.example/"}}}, "user information"},
		{"no reply URL", []RelyingParty{{Name: "b", Realm: "urn:b", Issuer: "https://sso"}}, "no reply URL"},
		{"one domain twice", []RelyingParty{{Name: "e", Realm: EntraRealm, ReplyURLs: []string{EntraReplyURL}, Domains: []Domain{
			{Name: "corp.example.com", IssuerURI: "https://sso/1"}, {Name: "CORP.example.com", IssuerURI: "https://sso/2"}}}}, "also federated"},
		{"two domains with one issuer", []RelyingParty{{Name: "e", Realm: EntraRealm, ReplyURLs: []string{EntraReplyURL}, Domains: []Domain{
			{Name: "corp.example.com", IssuerURI: "https://sso"}, {Name: "example.org", IssuerURI: "https://sso"}}}}, "same issuer URI"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewRegistry(c.rps...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
	if _, err := NewRegistry(RelyingParty{Name: "dev", Realm: "urn:dev", Issuer: "https://sso", ReplyURLs: []string{"http://127.0.0.1:8081/signin"}}); err != nil {
		t.Errorf("a loopback http reply URL was refused: %v", err)
	}
}

func TestTheRegistryIsBuiltFromTheAppsConfiguration(t *testing.T) {
	reg, err := FromConfig("https://sso.corp.example.com/", []config.App{
		{Name: "Microsoft 365", Type: "entra", Domains: []string{"corp.example.com", "Example.ORG"}},
		{Name: "Wiki", Type: "wsfed", EntityID: "https://wiki.corp.example.com/", ReplyURLs: []string{"https://wiki.corp.example.com/signin-wsfed"}},
		{Name: "Grafana", Type: "oidc", ClientID: "grafana"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(reg.All()); n != 2 {
		t.Fatalf("%d relying parties, want the entra and the wsfed app", n)
	}
	m365, ok := reg.ByRealm(EntraRealm)
	if !ok || !m365.Entra() || m365.ReplyURLs[0] != EntraReplyURL {
		t.Fatalf("entra relying party: %+v", m365)
	}
	want := []Domain{{"corp.example.com", "https://sso.corp.example.com/corp.example.com"}, {"example.org", "https://sso.corp.example.com/example.org"}}
	for i, d := range m365.Domains {
		if d != want[i] {
			t.Errorf("domain %d = %+v, want %+v", i, d, want[i])
		}
	}
	wiki, ok := reg.ByRealm("https://wiki.corp.example.com/")
	if !ok || wiki.Entra() || wiki.Issuer != "https://sso.corp.example.com/" {
		t.Errorf("wsfed relying party: %+v", wiki)
	}
	if _, err := FromConfig("https://sso", []config.App{{Name: "M365", Type: "entra"}}); err == nil {
		t.Error("an entra app without domains was accepted")
	}
}
