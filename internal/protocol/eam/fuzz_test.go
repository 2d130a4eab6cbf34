package eam

import (
	"net/url"
	"testing"
)

// FuzzParseRequest feeds arbitrary forms to the request parser: it must
// never panic, and whatever it accepts is an EAM request of a known client
// to its exact redirect URI with a nonce, state, hint and an acr.
func FuzzParseRequest(f *testing.F) {
	f.Add(entraForm(nil).Encode())
	f.Add(entraForm(func(v url.Values) { v.Set("claims", `{"id_token":{"acr":{"value":"possessionorinherence"}}}`) }).Encode())
	f.Add(entraForm(func(v url.Values) { v.Set("claims", `{"id_token":{"acr":{"values":[null,""]},"amr":{"values":[1]}}}`) }).Encode())
	f.Add("client_id=" + appID + "&claims=%7B%22id_token%22%3Anull%7D")
	f.Add("a=%zz&&=&client_id")
	apps := testApps()
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := ParseRequest(form, apps)
		if err != nil {
			return
		}
		if req.App.ClientID != appID || form.Get("redirect_uri") != redirect || req.Nonce == "" || req.State == "" || req.Hint == "" || len(req.ACR) == 0 {
			t.Fatalf("accepted %q as %+v", raw, req)
		}
	})
}
