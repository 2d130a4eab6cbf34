package wsfed

import (
	"context"
	"errors"
	"fmt"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// MetadataPath is where the metadata is served.
const MetadataPath = "/FederationMetadata/2007-06/FederationMetadata.xml"

// Metadata namespaces.
const (
	NSMetadata   = "urn:oasis:names:tc:SAML:2.0:metadata"
	NSFederation = "http://docs.oasis-open.org/wsfed/federation/200706"
	NSXSI        = "http://www.w3.org/2001/XMLSchema-instance"
)

// MetadataConfig describes the security token service.
type MetadataConfig struct {
	// EntityID is the issuer (the configuration's issuer).
	EntityID string
	// PassiveEndpoint is the public URL of /wsfed.
	PassiveEndpoint string
	// STSEndpoints are the WS-Trust endpoints (usernamemixed 1.3 and
	// 2005), listed as fed:SecurityTokenServiceEndpoint. Optional.
	STSEndpoints []string
	// Keys: every published certificate (current, then next) is listed;
	// the current key signs the document.
	Keys *keys.Set
	// NewID returns the document's ID. Nil: assertion.RandomID.
	NewID func() string
}

// BuildMetadata returns the signed FederationMetadata document: a SAML 2.0
// metadata EntityDescriptor (signature first, as the schema wants) with
// one fed:SecurityTokenServiceType RoleDescriptor listing a signing
// KeyDescriptor per published certificate, the SAML 1.1 token type, the
// WS-Trust endpoints and the passive endpoint.
func BuildMetadata(c MetadataConfig) ([]byte, error) {
	if c.EntityID == "" || c.PassiveEndpoint == "" || c.Keys == nil || c.Keys.Current == nil {
		return nil, errors.New("wsfed: metadata needs an entity ID, the passive endpoint and the keys")
	}
	newID := c.NewID
	if newID == nil {
		newID = assertion.RandomID
	}
	signer, err := assertion.NewSigner(c.Keys.Current)
	if err != nil {
		return nil, err
	}
	ed := etree.NewElement("EntityDescriptor")
	ed.CreateAttr("ID", newID())
	ed.CreateAttr("entityID", c.EntityID)
	ed.CreateAttr("xmlns", NSMetadata)

	rd := ed.CreateElement("RoleDescriptor")
	rd.CreateAttr("xsi:type", "fed:SecurityTokenServiceType")
	rd.CreateAttr("protocolSupportEnumeration", NSFederation)
	rd.CreateAttr("xmlns:xsi", NSXSI)
	rd.CreateAttr("xmlns:fed", NSFederation)
	for _, kp := range c.Keys.Published() {
		kd := rd.CreateElement("KeyDescriptor")
		kd.CreateAttr("use", "signing")
		ki := kd.CreateElement("KeyInfo")
		ki.CreateAttr("xmlns", assertion.NSXMLDSig)
		ki.CreateElement("X509Data").CreateElement("X509Certificate").SetText(kp.CertificateBase64())
	}
	rd.CreateElement("fed:TokenTypesOffered").CreateElement("fed:TokenType").CreateAttr("Uri", TokenTypeSAML11)
	for _, u := range c.STSEndpoints {
		endpoint(rd, "fed:SecurityTokenServiceEndpoint", u)
	}
	endpoint(rd, "fed:PassiveRequestorEndpoint", c.PassiveEndpoint)

	for _, s := range append([]string{c.EntityID, c.PassiveEndpoint}, c.STSEndpoints...) {
		if err := assertion.CheckText("metadata", s); err != nil {
			return nil, fmt.Errorf("wsfed: %w", err)
		}
	}
	if err := signer.SignEnveloped(context.Background(), ed, "ID", 0); err != nil {
		return nil, err
	}
	return assertion.Marshal(ed, true)
}

func endpoint(parent *etree.Element, tag, address string) {
	epr := parent.CreateElement(tag).CreateElement("wsa:EndpointReference")
	epr.CreateAttr("xmlns:wsa", NSAddressing)
	epr.CreateElement("wsa:Address").SetText(address)
}
