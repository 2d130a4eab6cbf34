package webauthn

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/webauthn/webauthntest"
)

// fuzzSetup registers one passkey and returns a creation response, an
// assertion for a discoverable login and that login's session.
func fuzzSetup(f *testing.F) (svc *Service, creation, assertion, sess []byte) {
	f.Helper()
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	svc, err := New(Options{RP: RelyingParty{ID: "localhost", Name: "Gatehouse", Origins: []string{"http://localhost:8080"}},
		Store: newMemStore(), Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	auth := webauthntest.New("http://localhost:8080")
	u := &directory.User{ID: "alice", UPN: "alice@example.test"}
	opts, rsess, err := svc.BeginRegistration(ctx, u)
	if err != nil {
		f.Fatal(err)
	}
	if creation, err = auth.Create(opts); err != nil {
		f.Fatal(err)
	}
	if _, err := svc.FinishRegistration(ctx, u, rsess, creation, ""); err != nil {
		f.Fatal(err)
	}
	opts, sess, err = svc.BeginDiscoverableLogin(ctx)
	if err != nil {
		f.Fatal(err)
	}
	if assertion, err = auth.Get(opts); err != nil {
		f.Fatal(err)
	}
	return svc, creation, assertion, sess
}

func checkParseError(t *testing.T, err error) {
	t.Helper()
	var ve *VerificationError
	if !errors.As(err, &ve) || ve.Reason != ReasonMalformed || !errors.Is(err, ErrVerification) {
		t.Fatalf("parse error %v (%T) is not a malformed VerificationError", err, err)
	}
}

func FuzzParseCreation(f *testing.F) {
	_, creation, assertion, _ := fuzzSetup(f)
	f.Add(creation)
	f.Add(assertion)
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseCreation(b)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if id, err := base64.RawURLEncoding.DecodeString(p.ID); err != nil || !bytes.Equal(id, p.RawID) {
			t.Fatalf("parsed a response whose id %q is not its rawId %x", p.ID, p.RawID)
		}
	})
}

func FuzzParseAssertion(f *testing.F) {
	_, creation, assertion, _ := fuzzSetup(f)
	f.Add(assertion)
	f.Add(creation)
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseAssertion(b)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if id, err := base64.RawURLEncoding.DecodeString(p.ID); err != nil || !bytes.Equal(id, p.RawID) {
			t.Fatalf("parsed a response whose id %q is not its rawId %x", p.ID, p.RawID)
		}
	})
}

// FuzzFinishDiscoverableLogin feeds mutated assertions to the whole
// passwordless check: whatever the input, it must not panic, every
// refusal must be a VerificationError (no input makes an internal error
// reach the caller), and a success can only name the one registered user.
func FuzzFinishDiscoverableLogin(f *testing.F) {
	svc, _, assertion, sess := fuzzSetup(f)
	f.Add(assertion)
	f.Fuzz(func(t *testing.T, b []byte) {
		userID, amr, err := svc.FinishDiscoverableLogin(context.Background(), sess, b)
		if err != nil {
			if !errors.Is(err, ErrVerification) {
				t.Fatalf("refusal is not a VerificationError: %v (%T)", err, err)
			}
			return
		}
		if userID != "alice" || (amr != AMRHardwareKey && amr != AMRSoftwareKey) {
			t.Fatalf("accepted for user %q amr %q", userID, amr)
		}
	})
}
