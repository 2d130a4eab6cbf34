package wsfed

import (
	"errors"
	"net/url"
	"testing"
)

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"wa=wsignin1.0&wtrealm=urn:federation:MicrosoftOnline&wctx=LoginOptions%3D3&username=alice@corp.example.com",
		"wa=wsignin1.0&wtrealm=urn:federation:MicrosoftOnline&wreply=https://login.microsoftonline.com/login.srf&wauth=http://schemas.microsoft.com/claims/multipleauthn&wfresh=0",
		"wa=wsignin1.0&wtrealm=https://wiki.corp.example.com/&wreply=https://evil.example/",
		"wa=wsignout1.0&wreply=https://wiki.corp.example.com/signin-wsfed",
		"wa=wsignoutcleanup1.0&wtrealm=x",
		"wa=wsignin1.0&wtrealm=urn:federation:MicrosoftOnline&mfa_max_age=99999999999999999999&prompt=login+select_account",
		"wa=%ff&wtrealm=%00",
	} {
		f.Add(s)
	}
	reg := entraRegistry(f)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		in, err := ParseSignIn(q, reg)
		if err == nil {
			if in.RP == nil || !in.RP.AllowsReply(in.Reply) {
				t.Fatalf("accepted a sign-in with reply %q", in.Reply)
			}
			if in.Context != q.Get("wctx") {
				t.Fatal("wctx changed")
			}
		} else {
			var re *RequestError
			if in != nil || !errors.As(err, &re) {
				t.Fatalf("error without a RequestError: %v", err)
			}
		}
		out, err := ParseSignOut(q, reg)
		if out != nil && out.Reply != "" {
			known := false
			for _, rp := range reg.All() {
				known = known || rp.AllowsReply(out.Reply)
			}
			if !known {
				t.Fatalf("sign-out would redirect to %q", out.Reply)
			}
		}
		if out == nil && err == nil {
			t.Fatal("nil request without an error")
		}
	})
}
