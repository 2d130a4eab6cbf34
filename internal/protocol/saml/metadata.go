package saml

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Metadata defaults.
const (
	// DefaultMetadataValidity is how long a metadata document is valid
	// (validUntil): long enough that an SP which fetched it once keeps
	// working through an outage of Gatehouse's metadata URL, short enough
	// that a rolled-over key does not linger in it for long.
	DefaultMetadataValidity = 7 * 24 * time.Hour
	// DefaultMetadataCache is the cacheDuration SPs are asked to refetch
	// after, which is also how often Gatehouse rebuilds the document.
	DefaultMetadataCache = time.Hour
)

// MetadataConfig describes the identity provider's metadata.
type MetadataConfig struct {
	// EntityID is the IdP's entity ID (the configuration's issuer).
	EntityID string
	// SSOURL and SLOURL are the public URLs of /saml/sso and /saml/slo;
	// each is listed with both bindings.
	SSOURL, SLOURL string
	// Keys: every published certificate (current, then next) is listed.
	Keys *keys.Set
	// Signer signs the document. Nil: one for Keys.Current.
	Signer *assertion.Signer
	// ValidFor sets validUntil (from Now). Zero: DefaultMetadataValidity.
	ValidFor time.Duration
	// CacheDuration is the document's cacheDuration. Zero:
	// DefaultMetadataCache.
	CacheDuration time.Duration
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// NewID returns the document's ID. Nil: assertion.RandomID.
	NewID func() string
}

// metadataNameIDFormats are the formats Gatehouse can issue, in the order
// the metadata lists them.
var metadataNameIDFormats = []string{NameIDPersistent, NameIDTransient, NameIDEmail, NameIDUnspecified}

// BuildMetadata returns the signed IdP metadata: an md:EntityDescriptor
// (ID, validUntil, cacheDuration; the signature its first child, as the
// schema wants) holding one IDPSSODescriptor with a signing KeyDescriptor
// per published certificate, the SingleLogoutService and
// SingleSignOnService endpoints over HTTP-Redirect and HTTP-POST, and the
// NameID formats, in the order the schema requires.
//
// WantAuthnRequestsSigned is false: a signature is demanded per SP (its
// own metadata or require_signed_requests), not of every SP.
func BuildMetadata(c MetadataConfig) ([]byte, error) {
	if c.EntityID == "" || c.SSOURL == "" || c.SLOURL == "" || c.Keys == nil || c.Keys.Current == nil {
		return nil, errors.New("saml: metadata needs an entity ID, the SSO and SLO URLs and the keys")
	}
	for what, s := range map[string]string{"entity ID": c.EntityID, "SSO URL": c.SSOURL, "SLO URL": c.SLOURL} {
		if err := assertion.CheckText("metadata "+what, s); err != nil {
			return nil, fmt.Errorf("saml: %w", err)
		}
	}
	signer := c.Signer
	if signer == nil {
		var err error
		if signer, err = assertion.NewSigner(c.Keys.Current); err != nil {
			return nil, err
		}
	}
	now, newID := c.Now, c.NewID
	if now == nil {
		now = time.Now
	}
	if newID == nil {
		newID = assertion.RandomID
	}
	validFor, cache := c.ValidFor, c.CacheDuration
	if validFor <= 0 {
		validFor = DefaultMetadataValidity
	}
	if cache <= 0 {
		cache = DefaultMetadataCache
	}

	ed := etree.NewElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", NSMetadata)
	ed.CreateAttr("ID", newID())
	ed.CreateAttr("entityID", c.EntityID)
	ed.CreateAttr("validUntil", assertion.FormatTime(now().Add(validFor)))
	ed.CreateAttr("cacheDuration", xsDuration(cache))

	idp := ed.CreateElement("md:IDPSSODescriptor")
	idp.CreateAttr("WantAuthnRequestsSigned", "false")
	idp.CreateAttr("protocolSupportEnumeration", NSProtocol)
	for _, kp := range c.Keys.Published() {
		kd := idp.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", "signing")
		ki := kd.CreateElement("ds:KeyInfo")
		ki.CreateAttr("xmlns:ds", assertion.NSXMLDSig)
		ki.CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(kp.CertificateBase64())
	}
	for _, b := range []string{BindingRedirect, BindingPOST} {
		service(idp, "md:SingleLogoutService", b, c.SLOURL)
	}
	for _, f := range metadataNameIDFormats {
		idp.CreateElement("md:NameIDFormat").SetText(f)
	}
	for _, b := range []string{BindingRedirect, BindingPOST} {
		service(idp, "md:SingleSignOnService", b, c.SSOURL)
	}
	if err := signer.SignEnveloped(context.Background(), ed, "ID", 0); err != nil {
		return nil, err
	}
	return assertion.Marshal(ed, true)
}

func service(parent *etree.Element, tag, binding, location string) {
	s := parent.CreateElement(tag)
	s.CreateAttr("Binding", binding)
	s.CreateAttr("Location", location)
}

// xsDuration writes d as an xs:duration in whole seconds (PT3600S reads
// less well than PT1H, so hours and minutes are used when they fit).
func xsDuration(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s%3600 == 0:
		return fmt.Sprintf("PT%dH", s/3600)
	case s%60 == 0:
		return fmt.Sprintf("PT%dM", s/60)
	}
	return fmt.Sprintf("PT%dS", s)
}

// MetadataHandler serves the signed metadata at PathMetadata, rebuilt when
// its cacheDuration has passed so validUntil stays ahead of the clock.
type MetadataHandler struct {
	Config MetadataConfig
	// Log records a document that cannot be built; required.
	Log *slog.Logger

	mu sync.Mutex
	md []byte
	at time.Time
}

// ServeHTTP writes the document (application/samlmetadata+xml).
func (h *MetadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	web.Handle(h.Log, h.serve).ServeHTTP(w, r)
}

func (h *MetadataHandler) serve(w http.ResponseWriter, _ *http.Request) error {
	md, err := h.document()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, err = w.Write(md)
	return err
}

func (h *MetadataHandler) document() ([]byte, error) {
	now := time.Now
	if h.Config.Now != nil {
		now = h.Config.Now
	}
	every := h.Config.CacheDuration
	if every <= 0 {
		every = DefaultMetadataCache
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.md == nil || now().Sub(h.at) >= every {
		md, err := BuildMetadata(h.Config)
		if err != nil {
			return nil, err
		}
		h.md, h.at = md, now()
	}
	return h.md, nil
}
