package assertion

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func TestClaimsPolicyAddsExpiryAndNetworkClaimsOnlyWhenTheyApply(t *testing.T) {
	now := t0
	user := func(expires time.Time) *directory.User {
		return &directory.User{UPN: "alice@corp.example.com", ImmutableID: "8bJ5sEt4uUWZ2wOyxGXQqA==",
			State: directory.AccountState{PasswordExpires: expires}}
	}
	corp := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	p := ClaimsPolicy{PasswordChangeURL: "https://sso.corp.example.com/password/change", CorporateNetworks: corp}
	cases := []struct {
		name       string
		policy     ClaimsPolicy
		expires    time.Time
		ip         string
		wantExpiry bool
		wantInside *bool
	}{
		{"expiry within the default 14 days, inside", p, now.Add(13 * 24 * time.Hour), "10.1.2.3", true, ptr(true)},
		{"expiry after the window, outside", p, now.Add(15 * 24 * time.Hour), "192.0.2.7", false, ptr(false)},
		{"a password that never expires, IPv4-mapped inside", p, time.Time{}, "::ffff:10.9.9.9", false, ptr(true)},
		{"an already expired password is not announced", p, now.Add(-time.Hour), "2001:db8::1", false, ptr(true)},
		{"no address known counts as outside", p, time.Time{}, "", false, ptr(false)},
		{"a custom window", ClaimsPolicy{PasswordExpiryWindow: 2 * time.Hour}, now.Add(time.Hour), "10.1.2.3", true, nil},
		{"expiry claims turned off", ClaimsPolicy{PasswordExpiryWindow: -1}, now.Add(time.Hour), "10.1.2.3", false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ip netip.Addr
			if c.ip != "" {
				ip = netip.MustParseAddr(c.ip)
			}
			got := c.policy.Claims(user(c.expires), SignIn{AuthInstant: now.Add(-time.Minute), AMR: []string{"pwd", "otp"}, MFA: true, ClientIP: ip}, now)
			if got.UPN != "alice@corp.example.com" || got.ImmutableID != "8bJ5sEt4uUWZ2wOyxGXQqA==" || !got.MFA || len(got.AMR) != 2 {
				t.Errorf("subject or sign-in lost: %+v", got)
			}
			if (!got.PasswordExpires.IsZero()) != c.wantExpiry {
				t.Errorf("PasswordExpires = %v, want set=%v", got.PasswordExpires, c.wantExpiry)
			}
			if c.wantExpiry && got.PasswordChangeURL != c.policy.PasswordChangeURL {
				t.Errorf("PasswordChangeURL = %q", got.PasswordChangeURL)
			}
			if (got.InsideCorporateNetwork == nil) != (c.wantInside == nil) ||
				(got.InsideCorporateNetwork != nil && *got.InsideCorporateNetwork != *c.wantInside) {
				t.Errorf("InsideCorporateNetwork = %v, want %v", got.InsideCorporateNetwork, c.wantInside)
			}
		})
	}
}

func ptr(b bool) *bool { return &b }
