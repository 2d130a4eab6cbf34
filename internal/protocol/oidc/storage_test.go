package oidc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// aCode issues a code of Grafana's for a user, as /oauth2/authorize does.
func aCode(t *testing.T, p *Provider, scopes ...string) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{"openid"}
	}
	code, err := p.st.issueCode(context.Background(), codeData{ClientID: "grafana", RedirectURI: "https://grafana.corp.example.test/login/generic_oauth",
		Scopes: scopes, UserID: "u1", Subject: "s1", SID: "sid1", AuthTime: time.Now(), AMR: []string{"pwd"}, ACR: ACRPassword})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func invalidGrant(err error) bool {
	var oe *oidc.Error
	return errors.As(err, &oe) && oe.ErrorType == oidc.InvalidGrant
}

func TestACodeReplayedBeforeItsExchangeEndsStopsTheExchange(t *testing.T) {
	p, st := testProvider(t)
	ctx := context.Background()
	code := aCode(t, p)
	ar, err := p.st.AuthRequestByCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.st.AuthRequestByCode(ctx, code); err == nil {
		t.Fatal("the code was redeemed twice")
	}
	if _, _, err := p.st.CreateAccessToken(ctx, ar); !invalidGrant(err) {
		t.Fatalf("the first exchange issued a token after the replay: %v", err)
	}
	if gs, _ := st.ListUserGrants(ctx, "u1", time.Now()); len(gs) != 0 {
		t.Fatalf("grants left: %+v", gs)
	}
}

func TestACodeReplayedAfterItsExchangeRevokesItsTokens(t *testing.T) {
	p, st := testProvider(t)
	ctx := context.Background()
	code := aCode(t, p, "openid", "offline_access")
	ar, err := p.st.AuthRequestByCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	_, refresh, _, err := p.st.CreateAccessAndRefreshTokens(ctx, ar, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.st.AuthRequestByCode(ctx, code); err == nil {
		t.Fatal("the code was redeemed twice")
	}
	if _, err := p.st.TokenRequestByRefreshToken(ctx, refresh); err == nil {
		t.Fatal("the refresh token works after the code's replay")
	}
	if _, err := st.GetGrant(ctx, grantIDOf(code), time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the grant is still there: %v", err)
	}
}

func TestOfConcurrentRefreshesWithOneTokenOneWinsAndTheFamilyEnds(t *testing.T) {
	p, st := testProvider(t)
	ctx := context.Background()
	ar, err := p.st.AuthRequestByCode(ctx, aCode(t, p, "openid", "offline_access"))
	if err != nil {
		t.Fatal(err)
	}
	_, refresh, _, err := p.st.CreateAccessAndRefreshTokens(ctx, ar, "")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			req, err := p.st.TokenRequestByRefreshToken(ctx, refresh)
			if err != nil {
				return
			}
			if _, _, _, err := p.st.CreateAccessAndRefreshTokens(ctx, req, refresh); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d concurrent refreshes won, want exactly 1", wins, n)
	}
	if gs, _ := st.ListUserGrants(ctx, "u1", time.Now()); len(gs) != 0 {
		t.Fatalf("the family survived the concurrent reuse: %+v", gs)
	}
}

func TestTheStoreHoldsNoUsableCodeOrToken(t *testing.T) {
	p, st := testProvider(t)
	ctx := context.Background()
	code := aCode(t, p, "openid", "offline_access")
	if _, err := st.ConsumeTicket(ctx, ticketCode, code, time.Now()); err == nil {
		t.Fatal("the code itself is a ticket ID")
	}
	code = aCode(t, p, "openid", "offline_access")
	ar, err := p.st.AuthRequestByCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	access, refresh, _, err := p.st.CreateAccessAndRefreshTokens(ctx, ar, "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := st.GetGrant(ctx, grantIDOf(code), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, accessSecret, _ := splitToken(access)
	_, refreshSecret, _ := splitToken(refresh)
	for _, secret := range []string{code, accessSecret, refreshSecret} {
		if strings.Contains(string(g.Data), secret) {
			t.Fatalf("the grant holds a secret in the clear: %s", g.Data)
		}
	}
}
