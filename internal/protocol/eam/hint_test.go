package eam

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/eam/entratest"
)

const (
	tenant      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	otherTenant = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
	appID       = "0b5a6b4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// standIn is a stand-in Entra and the app that trusts it.
func standIn(t *testing.T) (*entratest.Entra, *App, *clock) {
	t.Helper()
	e := entratest.New(t, tenant)
	c := &clock{t: t0}
	app := &App{Name: "Entra MFA", ClientID: appID, TenantID: tenant, Audience: appID, Issuer: e.Issuer(), RedirectURI: e.RedirectURI(),
		Keys: &EntraKeys{MetadataURL: e.MetadataURL(), Issuer: e.Issuer(), Now: c.now, Log: slog.New(slog.DiscardHandler),
			Client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.CertPool(), MinVersion: tls.VersionTLS12}}}}}
	return e, app, c
}

var alice = entratest.User{OID: "0c0d5a1e-1111-4aaa-8bbb-000000000001", Sub: "pairwise-sub-alice", PreferredUsername: "alice@corp.example.test"}

func TestAHintIsTakenOnlyAsEntraIssuedItForThisAppAndTenant(t *testing.T) {
	e, app, c := standIn(t)
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mod func(map[string]any)) map[string]any {
		m := e.HintClaims(alice, appID, t0.Add(-time.Minute))
		if mod != nil {
			mod(m)
		}
		return m
	}
	hs256, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("the-public-key-used-as-a-secret!")},
		(&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), e.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	hmac, _ := jwt.Signed(hs256).Claims(claims(nil)).Serialize()
	for _, tc := range []struct {
		name string
		hint string
		want error
	}{
		{"a hint Entra signed for the app, expired on purpose, is taken", e.Hint(t, alice, appID, t0.Add(-time.Minute)), nil},
		{"an unsigned hint is refused", entratest.Unsigned(claims(nil)), ErrHint},
		{"an HMAC hint is refused whatever its kid", hmac, ErrHint},
		{"a hint signed by a key Entra does not publish is refused", entratest.Sign(t, foreign, "someone-else", claims(nil)), ErrUnknownKey},
		{"a hint signed by another key under Entra's kid is refused", entratest.Sign(t, foreign, e.KeyID, claims(nil)), ErrHint},
		{"a hint without a kid is refused", entratest.Sign(t, e.Key, "", claims(nil)), ErrHint},
		{"a hint for another app is refused", entratest.Sign(t, e.Key, e.KeyID, claims(func(m map[string]any) { m["aud"] = otherTenant })), ErrHint},
		{"a hint of another tenant is refused", entratest.Sign(t, e.Key, e.KeyID, claims(func(m map[string]any) {
			m["tid"], m["iss"] = otherTenant, "https://login.microsoftonline.com/"+otherTenant+"/v2.0"
		})), ErrHint},
		{"a hint naming another tenant under this tenant's issuer is refused", entratest.Sign(t, e.Key, e.KeyID, claims(func(m map[string]any) { m["tid"] = otherTenant })), ErrHint},
		{"a hint from the v1 issuer is refused", entratest.Sign(t, e.Key, e.KeyID, claims(func(m map[string]any) { m["iss"] = "https://sts.windows.net/" + tenant + "/" })), ErrHint},
		{"a hint eleven minutes old is refused", e.Hint(t, alice, appID, t0.Add(-11*time.Minute)), ErrHintTooOld},
		{"a hint from the far future is refused", e.Hint(t, alice, appID, t0.Add(time.Hour)), ErrHintTooOld},
		{"a hint without iat is refused", entratest.Sign(t, e.Key, e.KeyID, claims(func(m map[string]any) { delete(m, "iat") })), ErrHint},
		{"a hint without a user name is refused", entratest.Sign(t, e.Key, e.KeyID, claims(func(m map[string]any) { delete(m, "preferred_username") })), ErrHint},
		{"a hint without an oid is refused", entratest.Sign(t, e.Key, e.KeyID, claims(func(m map[string]any) { delete(m, "oid") })), ErrHint},
		{"a hint for two audiences is refused", entratest.Sign(t, e.Key, e.KeyID, claims(func(m map[string]any) { m["aud"] = []string{appID, otherTenant} })), ErrHint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.add(6 * time.Minute) // past the refresh limit, so an unknown kid is looked up again
			h, err := VerifyHint(context.Background(), tc.hint, app, t0)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if h.Subject != alice.Sub || h.ObjectID != alice.OID || h.TenantID != tenant || h.PreferredUsername != alice.PreferredUsername {
					t.Errorf("hint = %+v", h)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEntrasKeysAreReadAgainForAnUnknownKidAtMostOncePerFiveMinutes(t *testing.T) {
	e, app, c := standIn(t)
	ctx := context.Background()
	if _, err := app.Keys.Key(ctx, e.KeyID); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := app.Keys.Key(ctx, "made-up"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("a made-up kid: %v", err)
		}
	}
	if e.Fetches() != 1 {
		t.Fatalf("%d reads of the metadata, want 1: made-up kids must not hammer Entra", e.Fetches())
	}
	// Entra rolls its key over.
	rolled, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e.Rotate(rolled, "entra-rolled")
	if _, err := app.Keys.Key(ctx, "entra-rolled"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("read again within five minutes: %v", err)
	}
	c.add(5 * time.Minute)
	if _, err := app.Keys.Key(ctx, "entra-rolled"); err != nil {
		t.Fatalf("the rolled key after five minutes: %v", err)
	}
	if e.Fetches() != 2 {
		t.Errorf("%d reads of the metadata, want 2", e.Fetches())
	}
}

func TestEntrasMetadataMustNameTheTenantsIssuer(t *testing.T) {
	_, app, _ := standIn(t)
	app.Keys.Issuer = "https://login.microsoftonline.com/" + otherTenant + "/v2.0"
	if _, err := app.Keys.Key(context.Background(), "any"); err == nil || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("keys read from another tenant's metadata: %v", err)
	}
}
