package main

import (
	"strings"
	"testing"
	"time"
)

func TestTheReportPutsEachJourneyBesideItsWSFedOneAtTheSameConcurrency(t *testing.T) {
	phase := func(kind string, conc, journeys int, cpu time.Duration, requests float64) phaseResult {
		k, ok := kindByName(kind)
		if !ok {
			t.Fatalf("no journey %q", kind)
		}
		return phaseResult{Kind: k, Concurrency: conc, Journeys: journeys, GatehouseCPU: cpu, Requests: requests}
	}
	for _, tc := range []struct {
		name    string
		samlCPU time.Duration // for 10 journeys at concurrency 8
		want    string
	}{
		{"a SAML sign-in as cheap as WS-Fed's meets the target", 40 * time.Millisecond, "| c=1: 4.00× against 4.00× (1.00), c=8: 4.00× against 5.00× (0.80) | met |"},
		{"one dearer within the noise neither meets nor misses it", 55 * time.Millisecond,
			"| c=1: 4.00× against 4.00× (1.00), c=8: 5.50× against 5.00× (1.10) | within the noise (1 < ÷ WS-Fed's ≤ 1.15): neither met nor missed in one run |"},
		{"one dearer by more than the noise misses it", 60 * time.Millisecond, "| c=1: 4.00× against 4.00× (1.00), c=8: 6.00× against 5.00× (1.20) | **missed** |"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &report{Signature: signatureCost{CPU: time.Millisecond}, Phases: []phaseResult{
				phase("signin", 1, 10, 40*time.Millisecond, 3), phase("saml", 1, 10, 40*time.Millisecond, 4),
				phase("sso", 1, 10, 20*time.Millisecond, 1), phase("saml-sso", 1, 10, 30*time.Millisecond, 1),
				phase("signin", 8, 10, 50*time.Millisecond, 3), phase("saml", 8, 10, tc.samlCPU, 4),
				// No SSO phases at 8: no row for them there.
				phase("sso", 50, 10, 20*time.Millisecond, 1),
			}}
			md := r.markdown()
			if !strings.Contains(md, "SAML 2.0 sign-in (password + TOTP) costs no more Gatehouse CPU per journey than the WS-Fed sign-in (#16)") ||
				!strings.Contains(md, tc.want) {
				t.Errorf("the target reads otherwise; want %q in\n%s", tc.want, md)
			}
			for _, row := range []string{
				"| SAML 2.0 sign-in (password + TOTP) | 1 | 3.0 | 4.00 | 4.00 | 4.0 | 4.00 | 4.00 | 1.00 |",
				"| SAML 2.0 SSO sign-in | 1 | 1.0 | 2.00 | 2.00 | 1.0 | 3.00 | 3.00 | 1.50 |",
			} {
				if !strings.Contains(md, row) {
					t.Errorf("no row %q in\n%s", row, md)
				}
			}
			if strings.Contains(md, "|  | 50 |") {
				t.Errorf("a row for a concurrency without a SAML phase:\n%s", md)
			}
			if strings.Contains(md, "#17") || strings.Contains(md, "OpenID Connect:") || strings.Contains(md, "EAM:") {
				t.Errorf("targets or notes of journeys that did not run:\n%s", md)
			}
		})
	}
}

func TestTheReportPutsTheOIDCAndEAMJourneysBesideTheWSFedSignIn(t *testing.T) {
	phase := func(kind string, conc int, cpu time.Duration, requests float64) phaseResult {
		k, ok := kindByName(kind)
		if !ok {
			t.Fatalf("no journey %q", kind)
		}
		return phaseResult{Kind: k, Concurrency: conc, Journeys: 10, GatehouseCPU: cpu, Requests: requests}
	}
	r := &report{Signature: signatureCost{CPU: 2 * time.Millisecond}, Phases: []phaseResult{
		phase("signin", 1, 80*time.Millisecond, 3), phase("oidc", 1, 100*time.Millisecond, 5), phase("eam", 1, 60*time.Millisecond, 3),
		phase("signin", 8, 80*time.Millisecond, 3), phase("oidc", 8, 88*time.Millisecond, 5),
	}}
	md := r.markdown()
	for _, want := range []string{
		// ÷ one signature of 2 ms: WS-Fed 4.00×, OIDC 5.00× and 4.40×, EAM 3.00×.
		"| OpenID Connect code flow (password + TOTP) | 1 | 3.0 | 8.00 | 4.00 | 5.0 | 10.00 | 5.00 | 1.25 |",
		"|  | 8 | 3.0 | 8.00 | 4.00 | 5.0 | 8.80 | 4.40 | 1.10 |",
		"| Entra EAM (TOTP only) | 1 | 3.0 | 8.00 | 4.00 | 3.0 | 6.00 | 3.00 | 0.75 |",
		"OpenID Connect code flow (password + TOTP) costs no more Gatehouse CPU per journey than the WS-Fed sign-in (#17)",
		"| c=1: 5.00× against 4.00× (1.25), c=8: 4.40× against 4.00× (1.10) | **missed** |",
		"Entra external authentication method (TOTP only) costs no more Gatehouse CPU per journey than the WS-Fed sign-in (#17)",
		"| c=1: 3.00× against 4.00× (0.75) | met |",
		"OpenID Connect: the code flow", "EAM: Entra has checked the password",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in\n%s", want, md)
		}
	}
	if strings.Contains(md, "#16") || strings.Contains(md, "SAML 2.0:") {
		t.Errorf("a SAML target or note without a SAML journey:\n%s", md)
	}
}
