package wsfed

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// Microsoft Entra ID's fixed values (ENTRA.md).
const (
	// EntraRealm is Entra's wtrealm, Audience and AppliesTo.
	EntraRealm = "urn:federation:MicrosoftOnline"
	// EntraReplyURL is where the token is posted.
	EntraReplyURL = "https://login.microsoftonline.com/login.srf"
	// EntraMaxImmutableID is the longest ImmutableID Entra takes (< 60).
	EntraMaxImmutableID = 59
)

// ErrDomainNotFederated means the user's UPN suffix is not one of the
// relying party's federated domains (nor below one), so no issuer fits.
var ErrDomainNotFederated = errors.New("wsfed: the user's UPN is not in a federated domain")

// Domain is one domain federated to Gatehouse in Entra.
type Domain struct {
	// Name is the DNS domain, lower case (corp.example.com).
	Name string
	// IssuerURI is the domain's IssuerUri in Entra, used byte for byte as
	// the assertion's Issuer. Empty: DomainIssuer(issuer, Name).
	IssuerURI string
}

// DomainIssuer is the default IssuerUri of a federated domain:
// issuer (without trailing slashes) + "/" + the domain in lower case, e.g.
// https://sso.corp.example.com/corp.example.com.
//
// Entra needs a distinct IssuerUri per federated domain, so the plain
// issuer can serve only one; deriving it from the domain keeps each
// domain's value stable when more domains are added later (changing it
// breaks sign-in with AADSTS50107 until Entra is updated).
func DomainIssuer(issuer, domain string) string {
	return strings.TrimRight(issuer, "/") + "/" + strings.ToLower(domain)
}

// RelyingParty is an application that receives WS-Federation tokens.
type RelyingParty struct {
	// Name is the app's name in the configuration.
	Name string
	// Realm is the wtrealm and the token's Audience.
	Realm string
	// ReplyURLs are the only URLs tokens and sign-out redirects go to,
	// compared byte for byte; the first is used when wreply is absent.
	ReplyURLs []string
	// Issuer is the assertion's Issuer for a generic relying party.
	Issuer string
	// Domains, when not empty, make this the Entra relying party: the
	// Issuer then comes from the domain of the user's UPN.
	Domains []Domain
}

// Entra reports whether rp is Microsoft Entra ID.
func (rp *RelyingParty) Entra() bool { return len(rp.Domains) > 0 }

// AllowsReply reports whether u is exactly one of rp's reply URLs.
func (rp *RelyingParty) AllowsReply(u string) bool {
	for _, r := range rp.ReplyURLs {
		if r == u {
			return true
		}
	}
	return false
}

// IssuerFor returns the Issuer of a token for upn and, for Entra, the
// federated domain it belongs to: the domain equal to the UPN's suffix or,
// failing that, the nearest parent of it (Entra federates subdomains with
// their root domain).
func (rp *RelyingParty) IssuerFor(upn string) (issuer string, domain string, err error) {
	if !rp.Entra() {
		return rp.Issuer, "", nil
	}
	at := strings.LastIndexByte(upn, '@')
	if at < 0 {
		return "", "", fmt.Errorf("%w: %q has no @domain", ErrDomainNotFederated, upn)
	}
	suffix := strings.ToLower(upn[at+1:])
	var best *Domain
	for i := range rp.Domains {
		d := &rp.Domains[i]
		if (suffix == d.Name || strings.HasSuffix(suffix, "."+d.Name)) && (best == nil || len(d.Name) > len(best.Name)) {
			best = d
		}
	}
	if best == nil {
		return "", "", fmt.Errorf("%w: %q", ErrDomainNotFederated, suffix)
	}
	return best.IssuerURI, best.Name, nil
}

// IssueAssertion builds and signs the SAML 1.1 assertion for rp: the
// Issuer is IssuerFor(c.UPN), the Audience rp.Realm. For Entra it also
// refuses an ImmutableID Entra would reject. Signing is the signing phase
// of the request in ctx (Server-Timing).
func IssueAssertion(ctx context.Context, b *assertion.Builder, rp *RelyingParty, c assertion.Claims) (*assertion.Assertion, error) {
	issuer, _, err := rp.IssuerFor(c.UPN)
	if err != nil {
		return nil, err
	}
	if rp.Entra() && len(c.ImmutableID) > EntraMaxImmutableID {
		return nil, fmt.Errorf("wsfed: ImmutableID of %s has %d characters; Entra takes at most %d", c.UPN, len(c.ImmutableID), EntraMaxImmutableID)
	}
	return b.SAML11(ctx, assertion.Issue{Issuer: issuer, Audience: rp.Realm, Claims: c})
}

// Registry holds the configured relying parties.
type Registry struct {
	all     []*RelyingParty
	byRealm map[string]*RelyingParty
}

// NewRegistry checks the relying parties and indexes them by realm. Every
// problem is reported, not only the first.
func NewRegistry(rps ...RelyingParty) (*Registry, error) {
	r := &Registry{byRealm: map[string]*RelyingParty{}}
	var errs []error
	domains := map[string]string{}
	issuers := map[string]string{}
	for i := range rps {
		rp := rps[i]
		rp.ReplyURLs = append([]string(nil), rp.ReplyURLs...)
		rp.Domains = append([]Domain(nil), rp.Domains...)
		where := fmt.Sprintf("relying party %q", rp.Name)
		if rp.Realm == "" {
			errs = append(errs, fmt.Errorf("%s: no realm", where))
		} else if other, dup := r.byRealm[rp.Realm]; dup {
			errs = append(errs, fmt.Errorf("%s: realm %q is also %q's", where, rp.Realm, other.Name))
		}
		if len(rp.ReplyURLs) == 0 {
			errs = append(errs, fmt.Errorf("%s: no reply URL", where))
		}
		for _, u := range rp.ReplyURLs {
			if err := config.CheckEndpointURL(u); err != nil {
				errs = append(errs, fmt.Errorf("%s: reply URL %q: %w", where, u, err))
			}
		}
		if !rp.Entra() && rp.Issuer == "" {
			errs = append(errs, fmt.Errorf("%s: no issuer", where))
		}
		for j := range rp.Domains {
			d := &rp.Domains[j]
			d.Name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d.Name), "."))
			if d.Name == "" || strings.ContainsAny(d.Name, "@/ ") || !strings.Contains(d.Name, ".") {
				errs = append(errs, fmt.Errorf("%s: %q is not a domain name", where, d.Name))
			}
			if other, dup := domains[d.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: domain %s is also federated by %q", where, d.Name, other))
			}
			domains[d.Name] = rp.Name
			if d.IssuerURI == "" {
				errs = append(errs, fmt.Errorf("%s: domain %s has no issuer URI", where, d.Name))
			} else if other, dup := issuers[d.IssuerURI]; dup {
				errs = append(errs, fmt.Errorf("%s: domain %s has the same issuer URI as %s; Entra needs one per domain", where, d.Name, other))
			}
			issuers[d.IssuerURI] = d.Name
		}
		for _, s := range append([]string{rp.Realm, rp.Issuer}, rp.ReplyURLs...) {
			if err := assertion.CheckText(where, s); err != nil {
				errs = append(errs, err)
			}
		}
		p := &rp
		r.all = append(r.all, p)
		if rp.Realm != "" && r.byRealm[rp.Realm] == nil {
			r.byRealm[rp.Realm] = p
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// ByRealm returns the relying party whose realm is exactly realm.
func (r *Registry) ByRealm(realm string) (*RelyingParty, bool) {
	rp, ok := r.byRealm[realm]
	return rp, ok
}

// All returns every relying party in configuration order.
func (r *Registry) All() []*RelyingParty { return append([]*RelyingParty(nil), r.all...) }

// FromConfig builds the registry from the apps of type entra and wsfed.
// issuer is the configuration's public base URL: the Issuer of generic
// relying parties and the base of each Entra domain's IssuerUri. An entra
// app's reply_urls are allowed besides Entra's own login.srf.
func FromConfig(issuer string, apps []config.App) (*Registry, error) {
	var rps []RelyingParty
	for _, a := range apps {
		switch a.Type {
		case "entra":
			rp := RelyingParty{Name: a.Name, Realm: EntraRealm, Issuer: issuer,
				ReplyURLs: append([]string{EntraReplyURL}, a.ReplyURLs...)}
			for _, d := range a.Domains {
				rp.Domains = append(rp.Domains, Domain{Name: d, IssuerURI: DomainIssuer(issuer, d)})
			}
			if len(rp.Domains) == 0 {
				return nil, fmt.Errorf("app %q of type entra: no domains", a.Name)
			}
			rps = append(rps, rp)
		case "wsfed":
			rps = append(rps, RelyingParty{Name: a.Name, Realm: a.EntityID, ReplyURLs: a.ReplyURLs, Issuer: issuer})
		}
	}
	return NewRegistry(rps...)
}
