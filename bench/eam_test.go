package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/eam"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// The stand-in's hints are checked by Gatehouse's own verifier, reading
// the stand-in's metadata and JWKS over TLS with the CA file the bench
// writes for entra_ca_file: what `gatehouse serve` does in the run.
func TestGatehouseTakesTheHintsTheStandInEntraSigns(t *testing.T) {
	e, err := startEntra(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	pem, err := os.ReadFile(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", e.caFile)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	now := time.Now()
	app := &eam.App{Name: "Entra MFA", ClientID: eamClientID, TenantID: eamTenant, Audience: eamClientID, Issuer: config.EAMIssuer(eamTenant),
		Keys: &eam.EntraKeys{MetadataURL: e.metadataURL(), Issuer: config.EAMIssuer(eamTenant), Client: client, Now: func() time.Time { return now },
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	u := &user{sam: "bench-abc123-0007", upn: "bench-abc123-0007@corp.example.test"}
	raw, err := e.hint(u, now)
	if err != nil {
		t.Fatal(err)
	}
	h, err := eam.VerifyHint(context.Background(), raw, app, now)
	if err != nil {
		t.Fatalf("Gatehouse refuses the stand-in's hint: %v", err)
	}
	if h.PreferredUsername != u.upn || h.Subject != eamSubject(u) || h.ObjectID != eamObjectID(u) || h.TenantID != eamTenant {
		t.Errorf("the hint says %+v", h)
	}
	other := &user{sam: "bench-abc123-0008"}
	if eamObjectID(other) == eamObjectID(u) || eamSubject(other) == eamSubject(u) {
		t.Error("two users have the same Entra account")
	}
}

// eamAnswerPage is the answer page as Gatehouse writes it (web.AutoPost,
// which the EAM handler posts with); the state is escaped as
// html/template escapes an attribute.
func eamAnswerPage(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := web.AutoPost{URL: "https://login.microsoftonline.com/common/federation/externalauthprovider",
		Fields: []web.Field{{Name: "id_token", Value: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}, {Name: "state", Value: `a&b"c`}}}.Render(&b)
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTheEAMJourneyReadsTheIDTokenAndStateOffTheAnswerPage(t *testing.T) {
	tok, state, ok := eamAnswerForm(eamAnswerPage(t))
	if !ok || tok != "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln" || state != `a&b"c` {
		t.Errorf("read %q, %q, %v", tok, state, ok)
	}
	if _, _, ok := eamAnswerForm(strings.Replace(eamAnswerPage(t), `name="id_token"`, `name="token"`, 1)); ok {
		t.Error("a page without an id_token was read as an answer")
	}
}

// gatehouseKeys serves a discovery document and the JWKS of set as
// Gatehouse does (keys.JWKS: x5c and thumbprints), for newEAMVerifier.
func gatehouseKeys(t *testing.T, set *keys.Set) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/oauth2/keys", "authorization_endpoint": srv.URL + eamPath})
	})
	mux.HandleFunc("GET /oauth2/keys", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, keys.JWKS(set)) })
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestTheEAMJourneyTakesOnlyAnAnswerSignedByGatehouseForItsRequest(t *testing.T) {
	now := time.Now()
	current, err := keys.Generate("gatehouse", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := keys.Generate("someone else", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(current, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := gatehouseKeys(t, set)
	v, err := newEAMVerifier(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	u := &user{sam: "bench-abc123-0001"}
	good := eam.Answer{Issuer: srv.URL, Audience: eamClientID, Subject: eamSubject(u), Nonce: "n-1", ACR: "possessionorinherence", AMR: "otp",
		Now: now, Lifetime: 5 * time.Minute}
	for _, tc := range []struct {
		name   string
		answer func(a eam.Answer) eam.Answer
		signer *keys.KeyPair
		want   string // in the error; "" for none
	}{
		{"Gatehouse's answer for the request is taken", nil, current, ""},
		{"an answer signed by a key not in Gatehouse's JWKS is refused", nil, foreign, "is not one key"},
		{"an answer of another issuer is refused", func(a eam.Answer) eam.Answer { a.Issuer = "https://elsewhere.example"; return a }, current, "iss"},
		{"an answer for another client is refused", func(a eam.Answer) eam.Answer { a.Audience = "another-client"; return a }, current, "aud"},
		{"an answer for another user is refused", func(a eam.Answer) eam.Answer { a.Subject = "someone-else"; return a }, current, "sub"},
		{"an answer to another request is refused", func(a eam.Answer) eam.Answer { a.Nonce = "n-2"; return a }, current, "nonce"},
		{"an answer naming the password is refused", func(a eam.Answer) eam.Answer { a.AMR = "pwd"; return a }, current, "amr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := good
			if tc.answer != nil {
				a = tc.answer(a)
			}
			tok, err := a.Sign(tc.signer)
			if err != nil {
				t.Fatal(err)
			}
			err = v.verify(tok, eamSubject(u), "n-1")
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error about %s", err, tc.want)
			}
		})
	}
	if err := v.verify("not.a.jwt", eamSubject(u), "n-1"); err == nil {
		t.Error("a token that is no JWT was taken")
	}
}
