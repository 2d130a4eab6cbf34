// Package entra helps an administrator wire Microsoft Entra ID to
// Gatehouse: it writes the Microsoft Graph PowerShell that federates a
// domain, and runs the ImmutableID pre-flight that shows, for one user,
// exactly what Entra would receive — before a domain is converted, when a
// mistake would lock every user out.
//
// It only reads: it never changes Entra or the directory.
package entra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wstrust"
)

// Federation is what one federated domain's settings are made of.
type Federation struct {
	Domain  string
	Issuer  string // the domain's IssuerUri
	BaseURL string // Gatehouse's public URL
	Keys    *keys.Set
	// SAML: the domain signs in over SAML-P (apps[].protocol: saml)
	// instead of WS-Federation; rich clients still use WS-Trust.
	SAML bool
}

// SAML-P endpoints (the saml package's paths; entra does not import the
// protocol to keep this package's dependencies to what it prints).
const (
	samlSSOPath = "/saml/sso"
	samlSLOPath = "/saml/slo"
)

// FindDomain returns the federation settings of domain from the registry.
func FindDomain(reg *wsfed.Registry, baseURL, domain string, ks *keys.Set) (Federation, error) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	for _, rp := range reg.All() {
		if !rp.Entra() {
			continue
		}
		for _, d := range rp.Domains {
			if strings.EqualFold(d.Name, domain) {
				iss := d.IssuerURI
				if iss == "" {
					iss = wsfed.DomainIssuer(baseURL, d.Name)
				}
				return Federation{Domain: domain, Issuer: iss, BaseURL: strings.TrimRight(baseURL, "/"), Keys: ks}, nil
			}
		}
	}
	return Federation{}, fmt.Errorf("domain %q is not in any app of type entra (apps[].domains)", domain)
}

func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// WritePowerShell writes the commands that federate the domain, and the
// form that updates the certificates at a rollover.
func (f Federation) WritePowerShell(w io.Writer) error {
	cur := f.Keys.Current
	var b strings.Builder
	proto, signIn, signOut := "wsFed", f.BaseURL+wsfed.Path, f.BaseURL+wsfed.Path+"?wa=wsignout1.0"
	if f.SAML {
		proto, signIn, signOut = "saml", f.BaseURL+samlSSOPath, f.BaseURL+samlSLOPath
	}
	fmt.Fprintf(&b, "# Federate %s to Gatehouse over %s (Microsoft Graph PowerShell).\n", f.Domain, map[bool]string{false: "WS-Federation", true: "SAML-P"}[f.SAML])
	fmt.Fprintf(&b, "# Run the ImmutableID pre-flight first: gatehouse entra preflight --user someone@%s\n", f.Domain)
	b.WriteString("Connect-MgGraph -Scopes 'Domain.ReadWrite.All'\n\n")
	params := []struct{ k, v string }{
		{"DomainId", f.Domain},
		{"DisplayName", "Gatehouse"},
		{"IssuerUri", f.Issuer},
		{"PassiveSignInUri", signIn},
		{"ActiveSignInUri", f.BaseURL + wstrust.PathUsernameMixed13},
		{"MetadataExchangeUri", f.BaseURL + wstrust.PathMEX},
		{"SignOutUri", signOut},
		{"SigningCertificate", cur.CertificateBase64()},
	}
	if f.Keys.Next != nil {
		params = append(params, struct{ k, v string }{"NextSigningCertificate", f.Keys.Next.CertificateBase64()})
	}
	params = append(params,
		struct{ k, v string }{"PreferredAuthenticationProtocol", proto},
		struct{ k, v string }{"FederatedIdpMfaBehavior", "enforceMfaByFederatedIdp"},
		struct{ k, v string }{"PromptLoginBehavior", "nativeSupport"},
	)
	b.WriteString("New-MgDomainFederationConfiguration `\n")
	for i, p := range params {
		sep := " `\n"
		if i == len(params)-1 {
			sep = "\n"
		}
		fmt.Fprintf(&b, "  -%s %s%s", p.k, psQuote(p.v), sep)
	}
	if f.SAML {
		b.WriteString("\n# To have Entra sign its AuthnRequests, add -IsSignedAuthenticationRequestRequired $true above and set the\n" +
			"# app's require_signed_requests: true and cert_file to Entra's signing certificate (its SAML 2.0 metadata).\n")
	}
	fmt.Fprintf(&b, "\n# Signing certificate %s, valid until %s (SHA-1 thumbprint %s).\n",
		cur.ID, cur.Cert.NotAfter.UTC().Format(time.DateOnly), cur.SHA1Thumbprint())
	b.WriteString("\n# At a certificate rollover (after configuring signing.next_key_file/next_cert_file), update it with:\n")
	b.WriteString("$fed = Get-MgDomainFederationConfiguration -DomainId " + psQuote(f.Domain) + "\n")
	b.WriteString("Update-MgDomainFederationConfiguration -DomainId " + psQuote(f.Domain) + " -InternalDomainFederationId $fed.Id `\n")
	if f.Keys.Next != nil {
		b.WriteString("  -SigningCertificate " + psQuote(cur.CertificateBase64()) + " `\n")
		b.WriteString("  -NextSigningCertificate " + psQuote(f.Keys.Next.CertificateBase64()) + "\n")
	} else {
		b.WriteString("  -SigningCertificate " + psQuote(cur.CertificateBase64()) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Preflight is what Entra would receive for one user, with warnings.
type Preflight struct {
	User        *directory.User
	Issuer      string
	NameID      string // = ImmutableID
	UPN         string
	Domain      string
	Warnings    []string
	Fatal       bool // a sign-in would fail
	ImmutableOK bool
}

// RunPreflight looks the user up and reports the claims.
func RunPreflight(ctx context.Context, dir directory.Directory, reg *wsfed.Registry, login string) (*Preflight, error) {
	u, err := dir.LookupUser(ctx, login)
	if err != nil {
		if errors.Is(err, directory.ErrUserNotFound) {
			return nil, fmt.Errorf("no user %q in the directory (searched the configured login attributes)", login)
		}
		return nil, err
	}
	p := &Preflight{User: u, NameID: u.ImmutableID, UPN: u.UPN, ImmutableOK: u.ImmutableID != ""}
	var entra *wsfed.RelyingParty
	for _, rp := range reg.All() {
		if rp.Entra() {
			entra = rp
			break
		}
	}
	switch {
	case entra == nil:
		p.Fatal = true
		p.Warnings = append(p.Warnings, "no app of type entra is configured")
	case u.UPN == "":
		p.Fatal = true
		p.Warnings = append(p.Warnings, "the user has no userPrincipalName; Entra matches on UPN and ImmutableID")
	default:
		iss, dom, err := entra.IssuerFor(u.UPN)
		if err != nil {
			p.Fatal = true
			p.Warnings = append(p.Warnings, fmt.Sprintf("UPN suffix of %s is not a federated domain of %q: Entra would refuse the token (AADSTS50107)", u.UPN, entra.Name))
		}
		p.Issuer, p.Domain = iss, dom
	}
	if u.ImmutableID == "" {
		p.Fatal = true
		p.Warnings = append(p.Warnings, "the ImmutableID source attribute is empty: Entra cannot match the user (AADSTS51004)")
	} else if len(u.ImmutableID) >= 60 {
		p.Fatal = true
		p.Warnings = append(p.Warnings, "the ImmutableID is 60 characters or longer; Entra refuses it")
	}
	st := u.State
	if st.Disabled {
		p.Warnings = append(p.Warnings, "the account is disabled in AD: sign-in will be refused")
	}
	if st.Locked {
		p.Warnings = append(p.Warnings, "the account is locked out in AD")
	}
	if st.MustChange {
		p.Warnings = append(p.Warnings, "the user must change the password at next sign-in (Gatehouse handles this at sign-in)")
	}
	return p, nil
}

// Write prints the report.
func (p *Preflight) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "User:            %s (%s)\n", p.User.DN, p.User.DisplayName)
	fmt.Fprintf(&b, "Issuer:          %s\n", p.Issuer)
	fmt.Fprintf(&b, "NameIdentifier:  %s   (ImmutableID: base64 of the raw source attribute)\n", p.NameID)
	fmt.Fprintf(&b, "UPN claim:       %s\n", p.UPN)
	b.WriteString("\nCompare with Entra: Get-MgUser -UserId " + psQuote(p.UPN) + " -Property OnPremisesImmutableId,UserPrincipalName\n")
	b.WriteString("OnPremisesImmutableId must equal the NameIdentifier above, byte for byte.\n")
	if len(p.Warnings) == 0 {
		b.WriteString("\nNo problems found.\n")
	} else {
		b.WriteString("\nWarnings:\n")
		for _, x := range p.Warnings {
			b.WriteString("  - " + x + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
