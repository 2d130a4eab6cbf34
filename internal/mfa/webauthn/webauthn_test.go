package webauthn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/webauthn"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/webauthn/webauthntest"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const origin = "http://localhost:8080"

var (
	alice = &directory.User{ID: "5f1c3a6e9d2b4c7a8e0f1a2b3c4d5e6f", UPN: "alice@corp.example.test", SAMAccountName: "alice", DisplayName: "Alice Smith"}
	bob   = &directory.User{ID: "0a1b2c3d4e5f60718293a4b5c6d7e8f9", UPN: "bob@corp.example.test", SAMAccountName: "bob", DisplayName: "Bob Jones"}
)

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	svc   *webauthn.Service
	store webauthn.TestStore
	clock *clock
	auth  *webauthntest.Authenticator
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: webauthn.NewTestStore(), clock: &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}, auth: webauthntest.New(origin)}
	rp, err := webauthn.RelyingPartyFromIssuer(origin, "Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = webauthn.New(webauthn.Options{RP: rp, Store: f.store, Now: f.clock.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// register runs a whole registration for u with f.auth.
func (f *fixture) register(t *testing.T, u *directory.User) store.Credential {
	t.Helper()
	opts, sess, err := f.svc.BeginRegistration(t.Context(), u)
	if err != nil {
		t.Fatalf("BeginRegistration: %v", err)
	}
	resp, err := f.auth.Create(opts)
	if err != nil {
		t.Fatalf("authenticator Create: %v", err)
	}
	c, err := f.svc.FinishRegistration(t.Context(), u, sess, resp, "Laptop")
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return c
}

// assertion begins a second-factor login for u and answers it.
func (f *fixture) assertion(t *testing.T, u *directory.User) (sess, resp []byte) {
	t.Helper()
	opts, sess, err := f.svc.BeginLogin(t.Context(), u)
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	resp, err = f.auth.Get(opts)
	if err != nil {
		t.Fatalf("authenticator Get: %v", err)
	}
	return sess, resp
}

func storedData(t *testing.T, s webauthn.TestStore, id string) map[string]any {
	t.Helper()
	c, err := s.GetCredential(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(c.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantVerificationError(t *testing.T, err error, reason string) {
	t.Helper()
	var ve *webauthn.VerificationError
	switch {
	case err == nil:
		t.Fatalf("err = nil, want a verification failure (%s)", reason)
	case !errors.As(err, &ve):
		t.Fatalf("err = %v (%T), want *VerificationError", err, err)
	case ve.Reason != reason:
		t.Fatalf("reason = %q, want %q (err: %v)", ve.Reason, reason, err)
	case !errors.Is(err, webauthn.ErrVerification) || !errors.Is(err, mfa.ErrInvalidCode):
		t.Fatalf("err %v does not match ErrVerification and mfa.ErrInvalidCode", err)
	case mfa.Reason(err) != reason:
		t.Fatalf("mfa.Reason = %q, want %q", mfa.Reason(err), reason)
	}
}

func TestRelyingPartyFromIssuer(t *testing.T) {
	tests := []struct {
		name, issuer string
		wantID       string
		wantOrigin   string
		wantErr      string
	}{
		{"an https issuer gives its host and origin", "https://SSO.corp.example.com/", "sso.corp.example.com", "https://sso.corp.example.com", ""},
		{"the default https port is left out of the origin", "https://sso.example.com:443", "sso.example.com", "https://sso.example.com", ""},
		{"another port stays in the origin", "https://sso.example.com:8443/gh", "sso.example.com", "https://sso.example.com:8443", ""},
		{"plain http is allowed on localhost", "http://localhost:8080", "localhost", "http://localhost:8080", ""},
		{"plain http is refused elsewhere", "http://sso.example.com", "", "", "https"},
		{"an IP address cannot be an RP ID", "http://127.0.0.1:8080", "", "", "IP address"},
		{"another scheme is refused", "ftp://sso.example.com", "", "", "http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp, err := webauthn.RelyingPartyFromIssuer(tt.issuer, "Gatehouse")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rp.ID != tt.wantID || len(rp.Origins) != 1 || rp.Origins[0] != tt.wantOrigin {
				t.Fatalf("got %+v, want ID %q origin %q", rp, tt.wantID, tt.wantOrigin)
			}
			if err := rp.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestNewReportsEveryProblemAtOnce(t *testing.T) {
	_, err := webauthn.New(webauthn.Options{RP: webauthn.RelyingParty{ID: "example.com",
		Origins: []string{"https://evil.test", "http://example.com", "https://example.com/path"}}})
	if err == nil {
		t.Fatal("New accepted a broken configuration")
	}
	for _, want := range []string{"name is empty", `"https://evil.test" is not within`, `"http://example.com"`, "canonical", "store is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestRegistrationOptionsAskForAPasskeyAndExcludeExistingCredentials(t *testing.T) {
	f := newFixture(t)
	opts, _, err := f.svc.BeginRegistration(t.Context(), alice)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RP   struct{ ID, Name string }
			User struct {
				ID          string `json:"id"`
				Name        string `json:"name"`
				DisplayName string `json:"displayName"`
			}
			Challenge   string `json:"challenge"`
			Attestation string `json:"attestation"`
			Selection   struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Exclude []struct {
				ID string `json:"id"`
			} `json:"excludeCredentials"`
			Extensions map[string]any `json:"extensions"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	pk := o.PublicKey
	if pk.RP.ID != "localhost" || pk.RP.Name != "Gatehouse" {
		t.Errorf("rp = %+v", pk.RP)
	}
	if pk.User.ID != base64.RawURLEncoding.EncodeToString([]byte(alice.ID)) || pk.User.Name != alice.UPN || pk.User.DisplayName != alice.DisplayName {
		t.Errorf("user = %+v, want the directory ID as handle, the UPN and the display name", pk.User)
	}
	if c, err := base64.RawURLEncoding.DecodeString(pk.Challenge); err != nil || len(c) < 16 {
		t.Errorf("challenge %q is not 16+ bytes of base64url", pk.Challenge)
	}
	if pk.Selection.ResidentKey != "preferred" || pk.Selection.UserVerification != "preferred" {
		t.Errorf("authenticatorSelection = %+v, want residentKey and userVerification preferred", pk.Selection)
	}
	if pk.Attestation != "" && pk.Attestation != "none" {
		t.Errorf("attestation = %q, want none", pk.Attestation)
	}
	if pk.Extensions["credProps"] != true {
		t.Errorf("extensions = %v, want credProps", pk.Extensions)
	}
	if len(pk.Exclude) != 0 {
		t.Errorf("a new user has excluded credentials: %v", pk.Exclude)
	}

	c := f.register(t, alice)
	opts, _, err = f.svc.BeginRegistration(t.Context(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.PublicKey.Exclude) != 1 || o.PublicKey.Exclude[0].ID != c.LookupKey {
		t.Fatalf("excludeCredentials = %v, want the registered credential %s", o.PublicKey.Exclude, c.LookupKey)
	}
	if _, err := f.auth.Create(opts); !errors.Is(err, webauthntest.ErrExcluded) {
		t.Fatalf("the authenticator registered twice: %v", err)
	}
}

func TestRegistrationStoresThePublicData(t *testing.T) {
	f := newFixture(t)
	c := f.register(t, alice)
	if c.Type != "webauthn" || c.UserID != alice.ID || c.Name != "Laptop" || !c.CreatedAt.Equal(f.clock.Now()) || len(c.Secret) != 0 {
		t.Errorf("credential = %+v", c)
	}
	ac := f.auth.Credentials()[0]
	if c.LookupKey != base64.RawURLEncoding.EncodeToString(ac.ID) {
		t.Errorf("LookupKey = %q, want the base64url credential ID", c.LookupKey)
	}
	got, err := f.store.GetCredentialByLookupKey(t.Context(), "webauthn", c.LookupKey)
	if err != nil || got.ID != c.ID {
		t.Fatalf("GetCredentialByLookupKey = %+v, %v", got, err)
	}
	d := storedData(t, f.store, c.ID)
	for k, want := range map[string]any{"rp_id": "localhost", "backup_eligible": false, "backup_state": false,
		"user_verified": true, "user_present": true, "discoverable": true, "sign_count": 0.0} {
		if d[k] != want {
			t.Errorf("Data[%s] = %v, want %v", k, d[k], want)
		}
	}
	if tr, _ := d["transports"].([]any); len(tr) != 1 || tr[0] != "internal" {
		t.Errorf("transports = %v", d["transports"])
	}
	if d["public_key"] == nil || d["aaguid"] == nil {
		t.Errorf("public key or AAGUID missing: %v", d)
	}
}

func TestSecondFactorSignIn(t *testing.T) {
	f := newFixture(t)
	c := f.register(t, alice)
	f.clock.Add(time.Hour)

	opts, sess, err := f.svc.BeginLogin(t.Context(), alice)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RPID  string `json:"rpId"`
			UV    string `json:"userVerification"`
			Allow []struct {
				ID         string   `json:"id"`
				Transports []string `json:"transports"`
			} `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if o.PublicKey.RPID != "localhost" || o.PublicKey.UV != "preferred" || len(o.PublicKey.Allow) != 1 ||
		o.PublicKey.Allow[0].ID != c.LookupKey || len(o.PublicKey.Allow[0].Transports) != 1 {
		t.Fatalf("request options = %s", opts)
	}
	resp, err := f.auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	amr, err := f.svc.FinishLogin(t.Context(), alice, sess, resp)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if amr != "hwk" {
		t.Errorf("amr = %q, want hwk for a device-bound credential", amr)
	}
	got, _ := f.store.GetCredential(t.Context(), c.ID)
	if !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, f.clock.Now())
	}
	if d := storedData(t, f.store, c.ID); d["sign_count"] != 1.0 {
		t.Errorf("sign_count = %v, want 1", d["sign_count"])
	}
}

func TestASyncedPasskeyIsASoftwareKey(t *testing.T) {
	f := newFixture(t)
	f.auth.BackupEligible, f.auth.BackupState, f.auth.NoSignCount = true, true, true
	c := f.register(t, alice)
	if d := storedData(t, f.store, c.ID); d["backup_eligible"] != true {
		t.Fatalf("backup_eligible not stored: %v", d)
	}
	for i := range 2 { // a counter that stays 0 is no regression
		sess, resp := f.assertion(t, alice)
		amr, err := f.svc.FinishLogin(t.Context(), alice, sess, resp)
		if err != nil {
			t.Fatalf("sign-in %d: %v", i+1, err)
		}
		if amr != "swk" {
			t.Fatalf("amr = %q, want swk for a backup-eligible credential", amr)
		}
	}
}

func TestBeginLoginWithoutCredentialsIsNotEnrolled(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.svc.BeginLogin(t.Context(), alice); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("err = %v, want mfa.ErrNotEnrolled", err)
	}
	if ok, err := f.svc.HasCredentials(t.Context(), alice.ID); ok || err != nil {
		t.Fatalf("HasCredentials = %v, %v", ok, err)
	}
	f.register(t, alice)
	if ok, err := f.svc.HasCredentials(t.Context(), alice.ID); !ok || err != nil {
		t.Fatalf("HasCredentials after registering = %v, %v", ok, err)
	}
}

func TestCredentialsOfAnotherRPIDAreIgnored(t *testing.T) {
	f := newFixture(t)
	f.register(t, alice)
	rp := webauthn.RelyingParty{ID: "sso.example.com", Name: "Gatehouse", Origins: []string{"https://sso.example.com"}}
	other, err := webauthn.New(webauthn.Options{RP: rp, Store: f.store, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.BeginLogin(t.Context(), alice); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("a credential of RP ID localhost was offered for sso.example.com: %v", err)
	}
}

func TestDiscoverableSignIn(t *testing.T) {
	f := newFixture(t)
	auth := f.auth
	f.auth = webauthntest.New(origin) // bob's passkey is on another device
	f.register(t, bob)
	f.auth = auth
	c := f.register(t, alice)

	opts, sess, err := f.svc.BeginDiscoverableLogin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			UV    string            `json:"userVerification"`
			Allow []json.RawMessage `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if o.PublicKey.UV != "required" || len(o.PublicKey.Allow) != 0 {
		t.Fatalf("options = %s, want userVerification required and no allowCredentials", opts)
	}
	resp, err := auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	userID, amr, err := f.svc.FinishDiscoverableLogin(t.Context(), sess, resp)
	if err != nil {
		t.Fatalf("FinishDiscoverableLogin: %v", err)
	}
	if userID != alice.ID || amr != "hwk" {
		t.Fatalf("got user %q amr %q, want %q hwk", userID, amr, alice.ID)
	}
	if got, _ := f.store.GetCredential(t.Context(), c.ID); !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("LastUsedAt not recorded")
	}
}

func TestDiscoverableSignInRequiresUserVerification(t *testing.T) {
	f := newFixture(t)
	f.register(t, alice)
	opts, sess, err := f.svc.BeginDiscoverableLogin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// A client that ignores userVerification: required, and an
	// authenticator that did not verify the user.
	f.auth.UserVerified = false
	resp, err := f.auth.Get(bytes.Replace(opts, []byte(`"userVerification":"required"`), []byte(`"userVerification":"preferred"`), 1))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.FinishDiscoverableLogin(t.Context(), sess, resp)
	wantVerificationError(t, err, webauthn.ReasonWrong)
}

func TestALongDirectoryIDIsHashedIntoTheUserHandle(t *testing.T) {
	f := newFixture(t)
	long := &directory.User{ID: strings.Repeat("x", 100), UPN: "long@corp.example.test"}
	f.register(t, long)
	if h := f.auth.Credentials()[0].UserHandle; len(h) != 32 || !bytes.Equal(h, webauthn.UserHandle(long.ID)) {
		t.Fatalf("user handle = %x, want the SHA-256 of the ID", h)
	}
	opts, sess, err := f.svc.BeginDiscoverableLogin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	if userID, _, err := f.svc.FinishDiscoverableLogin(t.Context(), sess, resp); err != nil || userID != long.ID {
		t.Fatalf("FinishDiscoverableLogin = %q, %v", userID, err)
	}
}

func TestFailedCeremoniesAreUniformVerificationErrors(t *testing.T) {
	tests := []struct {
		name   string
		run    func(t *testing.T, f *fixture) error
		reason string
	}{
		{"a response from another origin is refused", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			opts, sess, err := f.svc.BeginLogin(t.Context(), alice)
			if err != nil {
				t.Fatal(err)
			}
			f.auth.Origin = "http://phish.localhost:8080" // within the RP ID, so a browser would allow it
			resp, err := f.auth.Get(opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.FinishLogin(t.Context(), alice, sess, resp)
			return err
		}, webauthn.ReasonWrong},
		{"a response to another challenge is refused", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			_, sess, err := f.svc.BeginLogin(t.Context(), alice)
			if err != nil {
				t.Fatal(err)
			}
			_, resp := f.assertion(t, alice)
			_, err = f.svc.FinishLogin(t.Context(), alice, sess, resp)
			return err
		}, webauthn.ReasonWrong},
		{"an expired ceremony is refused", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			sess, resp := f.assertion(t, alice)
			f.clock.Add(webauthn.DefaultTimeout)
			_, err := f.svc.FinishLogin(t.Context(), alice, sess, resp)
			return err
		}, webauthn.ReasonExpired},
		{"another user's session is refused", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			sess, resp := f.assertion(t, alice)
			_, err := f.svc.FinishLogin(t.Context(), bob, sess, resp)
			return err
		}, webauthn.ReasonMismatch},
		{"a registration session cannot finish a login", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			_, sess, err := f.svc.BeginRegistration(t.Context(), alice)
			if err != nil {
				t.Fatal(err)
			}
			_, resp := f.assertion(t, alice)
			_, err = f.svc.FinishLogin(t.Context(), alice, sess, resp)
			return err
		}, webauthn.ReasonMismatch},
		{"a login session cannot finish a discoverable login", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			sess, resp := f.assertion(t, alice)
			_, _, err := f.svc.FinishDiscoverableLogin(t.Context(), sess, resp)
			return err
		}, webauthn.ReasonMismatch},
		{"another user's credential is refused", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			bobCred := f.register(t, bob)
			opts, sess, err := f.svc.BeginLogin(t.Context(), alice)
			if err != nil {
				t.Fatal(err)
			}
			// A client that swaps allowCredentials for bob's credential.
			var o map[string]map[string]any
			_ = json.Unmarshal(opts, &o)
			o["publicKey"]["allowCredentials"] = []map[string]string{{"type": "public-key", "id": bobCred.LookupKey}}
			opts, _ = json.Marshal(o)
			resp, err := f.auth.Get(opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.FinishLogin(t.Context(), alice, sess, resp)
			return err
		}, webauthn.ReasonUnknownCredential},
		{"a credential deleted from the store cannot sign in without a password", func(t *testing.T, f *fixture) error {
			c := f.register(t, alice)
			if err := f.store.DeleteCredential(t.Context(), c.ID); err != nil {
				t.Fatal(err)
			}
			opts, sess, err := f.svc.BeginDiscoverableLogin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.auth.Get(opts)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = f.svc.FinishDiscoverableLogin(t.Context(), sess, resp)
			return err
		}, webauthn.ReasonUnknownCredential},
		{"a replayed assertion is refused by its sign count", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			sess, resp := f.assertion(t, alice)
			if _, err := f.svc.FinishLogin(t.Context(), alice, sess, resp); err != nil {
				t.Fatal(err)
			}
			_, err := f.svc.FinishLogin(t.Context(), alice, sess, resp)
			return err
		}, webauthn.ReasonSignCount},
		{"a registration response posted twice is refused the second time", func(t *testing.T, f *fixture) error {
			opts, sess, err := f.svc.BeginRegistration(t.Context(), alice)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.auth.Create(opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.FinishRegistration(t.Context(), alice, sess, resp, ""); err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.FinishRegistration(t.Context(), alice, sess, resp, "")
			return err
		}, webauthn.ReasonDuplicate},
		{"a registration from another origin is refused", func(t *testing.T, f *fixture) error {
			opts, sess, err := f.svc.BeginRegistration(t.Context(), alice)
			if err != nil {
				t.Fatal(err)
			}
			f.auth.Origin = "http://phish.localhost:8080"
			resp, err := f.auth.Create(opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.FinishRegistration(t.Context(), alice, sess, resp, "")
			return err
		}, webauthn.ReasonWrong},
		{"a malformed response is refused", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			sess, _ := f.assertion(t, alice)
			_, err := f.svc.FinishLogin(t.Context(), alice, sess, []byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`))
			return err
		}, webauthn.ReasonMalformed},
		{"an oversized response is refused unread", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			sess, _ := f.assertion(t, alice)
			_, err := f.svc.FinishLogin(t.Context(), alice, sess, bytes.Repeat([]byte(" "), webauthn.MaxCredentialJSON+1))
			return err
		}, webauthn.ReasonMalformed},
		{"a garbled session is refused", func(t *testing.T, f *fixture) error {
			f.register(t, alice)
			_, resp := f.assertion(t, alice)
			_, err := f.svc.FinishLogin(t.Context(), alice, []byte("{"), resp)
			return err
		}, webauthn.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantVerificationError(t, tt.run(t, newFixture(t)), tt.reason)
		})
	}
}

func TestASignCountThatGoesBackIsRefusedAndRemembered(t *testing.T) {
	f := newFixture(t)
	c := f.register(t, alice)
	for range 3 {
		sess, resp := f.assertion(t, alice)
		if _, err := f.svc.FinishLogin(t.Context(), alice, sess, resp); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := f.store.GetCredential(t.Context(), c.ID)
	f.clock.Add(time.Minute)
	// A clone of the key that has been used less often than the original.
	f.auth.Credentials()[0].SignCount = 1
	sess, resp := f.assertion(t, alice)
	_, err := f.svc.FinishLogin(t.Context(), alice, sess, resp)
	wantVerificationError(t, err, webauthn.ReasonSignCount)
	after, _ := f.store.GetCredential(t.Context(), c.ID)
	d := storedData(t, f.store, c.ID)
	if d["clone_warning"] != true || d["sign_count"] != 3.0 || !after.LastUsedAt.Equal(before.LastUsedAt) {
		t.Fatalf("after a regression: data %v, LastUsedAt %v (was %v)", d, after.LastUsedAt, before.LastUsedAt)
	}
}

func TestConcurrentUseOfOneAssertionSucceedsOnce(t *testing.T) {
	f := newFixture(t)
	f.register(t, alice)
	sess, resp := f.assertion(t, alice)
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := f.svc.FinishLogin(context.Background(), alice, sess, resp)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, webauthn.ErrVerification) {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses succeeded, want exactly 1", ok, n)
	}
}

func TestCredentialNames(t *testing.T) {
	f := newFixture(t)
	tests := []struct{ name, in, want string }{
		{"an empty name stays empty (the page names the method in the reader's language)", "", ""},
		{"space is trimmed and collapsed", "  My   YubiKey \t", "My YubiKey"},
		{"control characters are dropped", "Key\x00\x1b[31m1", "Key[31m1"},
		{"a long name is cut to 64 characters", strings.Repeat("ä", 70), strings.Repeat("ä", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &directory.User{ID: "user-" + tt.name, UPN: "u@example.test"}
			opts, sess, err := f.svc.BeginRegistration(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.auth.Create(opts)
			if err != nil {
				t.Fatal(err)
			}
			c, err := f.svc.FinishRegistration(t.Context(), u, sess, resp, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.want {
				t.Fatalf("name = %q, want %q", c.Name, tt.want)
			}
		})
	}
}
