package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// Microsoft Entra ID's fixed SAML-P values (ENTRA.md).
const (
	// EntraEntityID is Entra's AuthnRequest Issuer and the Audience.
	EntraEntityID = "urn:federation:MicrosoftOnline"
	// EntraACS is where responses are posted (Destination, Recipient),
	// and where Entra takes logout messages (HTTP-Redirect).
	EntraACS = "https://login.microsoftonline.com/login.srf"
)

// nameIDFormats maps name_id.format to the SAML format URI.
var nameIDFormats = map[string]string{
	"persistent":  NameIDPersistent,
	"transient":   NameIDTransient,
	"email":       NameIDEmail,
	"unspecified": NameIDUnspecified,
}

// attrNameFormats maps an attribute's name_format to AttributeRule's
// NameFormat (empty: basic).
var attrNameFormats = map[string]string{
	"":            "",
	"basic":       "",
	"uri":         "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
	"unspecified": "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
	"urn:oasis:names:tc:SAML:2.0:attrname-format:basic":       "",
	"urn:oasis:names:tc:SAML:2.0:attrname-format:uri":         "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
	"urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified": "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
}

// entraSP builds Microsoft Entra ID over SAML-P from an entra app with
// protocol: saml: its fixed entity ID and login.srf (plus the app's
// reply_urls), a persistent NameID holding the ImmutableID, the assertion
// signed (the response too with sign: both), no IdP-initiated sign-in
// (Entra starts every sign-in), and requests signed by cert_file when
// require_signed_requests says so.
func entraSP(a config.App, readFile func(string) ([]byte, error)) (*ServiceProvider, error) {
	sp := &ServiceProvider{
		Name:               a.Name,
		EntityID:           EntraEntityID,
		ACS:                []Endpoint{{Binding: BindingPOST, Location: EntraACS, Index: 0, IsDefault: true}},
		SLO:                []Endpoint{{Binding: BindingRedirect, Location: EntraACS}},
		NameID:             NameIDRule{Format: NameIDPersistent, Source: "immutable_id"},
		Entra:              true,
		SignAssertion:      true,
		SignResponse:       a.Sign == "both",
		WantRequestsSigned: a.RequireSignedRequests,
	}
	var errs []error
	for i, u := range a.ReplyURLs {
		if err := checkEndpoint("reply URL", u); err != nil {
			errs = append(errs, err)
		}
		sp.ACS = append(sp.ACS, Endpoint{Binding: BindingPOST, Location: u, Index: i + 1})
	}
	if a.CertFile != "" {
		certs, err := readCertFile(readFile, "cert_file", a.CertFile)
		if err != nil {
			errs = append(errs, err)
		}
		sp.SigningCerts = certs
	}
	if sp.WantRequestsSigned && len(sp.SigningCerts) == 0 {
		errs = append(errs, errors.New("require_signed_requests needs cert_file: Entra's request-signing certificate"))
	}
	return sp, errors.Join(errs...)
}

// inlineSP builds a SAML SP described in the configuration: entity_id,
// acs_urls (HTTP-POST, indexed in order, the first the default), slo_url
// (HTTP-Redirect), cert_file and encryption_cert_file.
func inlineSP(a config.App, readFile func(string) ([]byte, error)) (*ServiceProvider, error) {
	sp := &ServiceProvider{EntityID: a.EntityID}
	var errs []error
	if a.EntityID == "" {
		errs = append(errs, errors.New("no entity_id"))
	}
	for i, u := range a.ACSURLs {
		if err := checkEndpoint("acs_urls", u); err != nil {
			errs = append(errs, err)
		}
		sp.ACS = append(sp.ACS, Endpoint{Binding: BindingPOST, Location: u, Index: i, IsDefault: i == 0})
	}
	if len(sp.ACS) == 0 {
		errs = append(errs, errors.New("no acs_urls"))
	}
	if a.SLOURL != "" {
		if err := checkEndpoint("slo_url", a.SLOURL); err != nil {
			errs = append(errs, err)
		}
		sp.SLO = []Endpoint{{Binding: BindingRedirect, Location: a.SLOURL}}
	}
	if a.CertFile != "" {
		certs, err := readCertFile(readFile, "cert_file", a.CertFile)
		if err != nil {
			errs = append(errs, err)
		}
		sp.SigningCerts = certs
	}
	if a.EncryptionCertFile != "" {
		certs, err := readCertFile(readFile, "encryption_cert_file", a.EncryptionCertFile)
		switch {
		case err != nil:
			errs = append(errs, err)
		case len(certs) > 1:
			errs = append(errs, fmt.Errorf("encryption_cert_file %s holds %d certificates; give the one the service provider decrypts with", a.EncryptionCertFile, len(certs)))
		default:
			if _, ok := certs[0].PublicKey.(*rsa.PublicKey); !ok {
				errs = append(errs, fmt.Errorf("encryption_cert_file %s has no RSA key; Gatehouse encrypts assertions with RSA-OAEP", a.EncryptionCertFile))
			}
			sp.EncryptionCert = certs[0]
		}
	}
	return sp, errors.Join(errs...)
}

// applyApp completes an SP read from metadata or built inline with the
// app's settings: its name, NameID, attributes, what is signed, whether
// requests must be signed (metadata's AuthnRequestsSigned or
// require_signed_requests) and IdP-initiated sign-in; a is WithDefaults'.
// It checks what the two together must satisfy.
func applyApp(sp *ServiceProvider, a config.App) error {
	sp.Name = a.Name
	var errs []error
	format, ok := nameIDFormats[a.NameID.Format]
	if !ok {
		errs = append(errs, fmt.Errorf("name_id.format %q is not persistent, transient, email or unspecified", a.NameID.Format))
	}
	sp.NameID = NameIDRule{Format: format, Source: a.NameID.Source}
	if format == NameIDTransient {
		sp.NameID.Source = ""
	}
	sp.Attributes = nil
	for _, at := range a.Attributes {
		nf, ok := attrNameFormats[at.NameFormat]
		if !ok {
			errs = append(errs, fmt.Errorf("attribute %q: name_format %q is not basic, uri or unspecified", at.Name, at.NameFormat))
		}
		src := at.Source
		if ad, ok := strings.CutPrefix(src, "ad:"); ok {
			// LDAP names are case-insensitive; directory.User.Attributes
			// is keyed in lower case.
			src = "ad:" + strings.ToLower(ad)
		}
		for _, s := range append([]string{at.Name, at.FriendlyName}, at.Values...) {
			if err := assertion.CheckText(fmt.Sprintf("attribute %q", at.Name), s); err != nil {
				errs = append(errs, err)
			}
		}
		sp.Attributes = append(sp.Attributes, AttributeRule{Name: at.Name, NameFormat: nf, FriendlyName: at.FriendlyName,
			Source: src, Values: append([]string(nil), at.Values...)})
	}
	switch a.Sign {
	case "assertion", "response", "both":
	default:
		errs = append(errs, fmt.Errorf("sign %q is not assertion, response or both", a.Sign))
	}
	sp.SignResponse = a.Sign == "response" || a.Sign == "both"
	// An SP whose metadata says WantAssertionsSigned gets that too.
	sp.SignAssertion = sp.SignAssertion || a.Sign == "assertion" || a.Sign == "both"
	sp.WantRequestsSigned = sp.WantRequestsSigned || a.RequireSignedRequests
	sp.IDPInitiated = a.IDPInitiated == nil || *a.IDPInitiated
	if err := checkSP(sp); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkSP checks what every SP must satisfy, however it was described.
func checkSP(sp *ServiceProvider) error {
	var errs []error
	if sp.WantRequestsSigned && len(sp.SigningCerts) == 0 {
		errs = append(errs, errors.New("signed requests are required (AuthnRequestsSigned or require_signed_requests) but there is no signing certificate to check them with"))
	}
	if !sp.SignAssertion && !sp.SignResponse {
		errs = append(errs, errors.New("neither the assertion nor the response would be signed"))
	}
	if len(sp.ACS) == 0 {
		errs = append(errs, errors.New("no assertion consumer service"))
	}
	if err := assertion.CheckText("entity ID", sp.EntityID); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// readCertFile reads the certificates of a PEM file (one or more
// CERTIFICATE blocks); what names the setting in errors.
func readCertFile(readFile func(string) ([]byte, error), what, path string) ([]*x509.Certificate, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, withoutPath(err))
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s %s: certificate %d: %w", what, path, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s %s: no PEM certificate (-----BEGIN CERTIFICATE-----) in it", what, path)
	}
	return certs, nil
}
