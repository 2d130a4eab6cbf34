package main

import (
	"strings"
	"testing"
	"time"
)

func TestTheReportPutsEachSAMLJourneyBesideItsWSFedOneAtTheSameConcurrency(t *testing.T) {
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
			if !strings.Contains(md, tc.want) {
				t.Errorf("the target reads otherwise; want %q in\n%s", tc.want, md)
			}
			for _, row := range []string{
				"| password + TOTP sign-in | 1 | 3.0 | 4.00 | 4.00 | 4.0 | 4.00 | 4.00 | 1.00 |",
				"| SSO sign-in | 1 | 1.0 | 2.00 | 2.00 | 1.0 | 3.00 | 3.00 | 1.50 |",
			} {
				if !strings.Contains(md, row) {
					t.Errorf("no row %q in\n%s", row, md)
				}
			}
			if strings.Contains(md, "|  | 50 |") {
				t.Errorf("a row for a concurrency without a SAML phase:\n%s", md)
			}
		})
	}
}
