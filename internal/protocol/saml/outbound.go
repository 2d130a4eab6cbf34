package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// The parameters of the HTTP-Redirect and HTTP-POST bindings.
// (SAMLRequest and SAMLResponse are ParamRequest and ParamResponse;
// SigAlgRSASHA256 is the SigAlg of every Redirect signature Gatehouse
// makes.)
const (
	ParamRelayState = "RelayState"
	ParamSigAlg     = "SigAlg"
	ParamSignature  = "Signature"
)

// LogoutReasonUser is the Reason of a LogoutRequest Gatehouse sends: the
// user asked to sign out.
const LogoutReasonUser = "urn:oasis:names:tc:SAML:2.0:logout:user"

// LogoutRequestParams is what a LogoutRequest to an SP says.
type LogoutRequestParams struct {
	// ID is the message's ID. Empty: assertion.RandomID.
	ID           string
	IssueInstant time.Time
	// Issuer is Gatehouse's entity ID.
	Issuer string
	// Destination is the SP's SingleLogoutService Location.
	Destination string
	// NameID is the subject as the SP received it in its assertion.
	NameID NameID
	// SessionIndexes are the SessionIndex values the SP received.
	SessionIndexes []string
	// NotOnOrAfter, when set, is when the request expires.
	NotOnOrAfter time.Time
	// Reason: empty for LogoutReasonUser.
	Reason string
}

// NewLogoutRequest builds an unsigned samlp:LogoutRequest (the binding
// signs it: Message.Send).
func NewLogoutRequest(p LogoutRequestParams) (*etree.Element, error) {
	if p.Issuer == "" || p.Destination == "" || p.NameID.Value == "" || p.IssueInstant.IsZero() {
		return nil, errors.New("saml: a logout request needs an issuer, a destination, a NameID and an issue instant")
	}
	if p.ID == "" {
		p.ID = assertion.RandomID()
	}
	if p.Reason == "" {
		p.Reason = LogoutReasonUser
	}
	texts := []string{p.ID, p.Issuer, p.Destination, p.NameID.Value, p.NameID.Format, p.NameID.SPNameQualifier, p.Reason}
	if err := checkTexts("logout request", append(texts, p.SessionIndexes...)...); err != nil {
		return nil, err
	}
	el := protocolMessage("samlp:LogoutRequest", p.ID, p.IssueInstant, p.Destination, p.Issuer)
	if !p.NotOnOrAfter.IsZero() {
		el.CreateAttr("NotOnOrAfter", assertion.FormatTime(p.NotOnOrAfter))
	}
	el.CreateAttr("Reason", p.Reason)
	nid := el.CreateElement("saml:NameID")
	if p.NameID.SPNameQualifier != "" {
		nid.CreateAttr("SPNameQualifier", p.NameID.SPNameQualifier)
	}
	if p.NameID.Format != "" {
		nid.CreateAttr("Format", p.NameID.Format)
	}
	nid.SetText(p.NameID.Value)
	for _, s := range p.SessionIndexes {
		el.CreateElement("samlp:SessionIndex").SetText(s)
	}
	return el, nil
}

// LogoutResponseParams is what a LogoutResponse to an SP says.
type LogoutResponseParams struct {
	// ID is the message's ID. Empty: assertion.RandomID.
	ID           string
	IssueInstant time.Time
	// InResponseTo is the LogoutRequest's ID.
	InResponseTo string
	Issuer       string
	// Destination is where the response goes (the SP's SLO
	// ResponseLocation, or its Location).
	Destination string
	// Status is the top-level status code. Empty: StatusSuccess.
	Status string
	// SubStatus, when set, is the second-level status code, e.g.
	// StatusPartialLogout.
	SubStatus string
}

// NewLogoutResponse builds an unsigned samlp:LogoutResponse.
func NewLogoutResponse(p LogoutResponseParams) (*etree.Element, error) {
	if p.Issuer == "" || p.Destination == "" || p.IssueInstant.IsZero() {
		return nil, errors.New("saml: a logout response needs an issuer, a destination and an issue instant")
	}
	if p.ID == "" {
		p.ID = assertion.RandomID()
	}
	if p.Status == "" {
		p.Status = StatusSuccess
	}
	if err := checkTexts("logout response", p.ID, p.InResponseTo, p.Issuer, p.Destination, p.Status, p.SubStatus); err != nil {
		return nil, err
	}
	el := protocolMessage("samlp:LogoutResponse", p.ID, p.IssueInstant, p.Destination, p.Issuer)
	if p.InResponseTo != "" {
		el.CreateAttr("InResponseTo", p.InResponseTo)
	}
	code := el.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	code.CreateAttr("Value", p.Status)
	if p.SubStatus != "" {
		code.CreateElement("samlp:StatusCode").CreateAttr("Value", p.SubStatus)
	}
	return el, nil
}

// protocolMessage starts a message: its namespaces, ID, Version,
// IssueInstant, Destination and Issuer.
func protocolMessage(tag, id string, instant time.Time, destination, issuer string) *etree.Element {
	el := etree.NewElement(tag)
	el.CreateAttr("xmlns:samlp", NSProtocol)
	el.CreateAttr("xmlns:saml", NSAssertion)
	el.CreateAttr("ID", id)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", assertion.FormatTime(instant))
	el.CreateAttr("Destination", destination)
	el.CreateElement("saml:Issuer").SetText(issuer)
	return el
}

func checkTexts(what string, ss ...string) error {
	for _, s := range ss {
		if err := assertion.CheckText(what, s); err != nil {
			return fmt.Errorf("saml: %w", err)
		}
	}
	return nil
}

// Outgoing is a signed protocol message on its way to an SP.
type Outgoing struct {
	// Binding is BindingRedirect or BindingPOST.
	Binding string
	// URL is, for HTTP-Redirect, the whole URL to send the browser to
	// (message, RelayState, SigAlg and Signature in its query) and, for
	// HTTP-POST, the form's action.
	URL string
	// Fields are the HTTP-POST form's fields in order: SAMLRequest or
	// SAMLResponse, then RelayState when there is one. Empty for
	// HTTP-Redirect.
	Fields []Field
}

// Field is one field of an HTTP-POST form.
type Field struct{ Name, Value string }

// Values returns the form's fields as url.Values (for a form renderer that
// takes them).
func (m Outgoing) Values() url.Values {
	v := url.Values{}
	for _, f := range m.Fields {
		v.Set(f.Name, f.Value)
	}
	return v
}

// Outbound signs messages for the two bindings with one key.
type Outbound struct {
	Signer *assertion.Signer
}

// Send signs msg (an unsigned request or response) for ep's binding and
// returns how it travels to location (ep.Location, or for a response
// ep.ResponseLocation when set — the caller picks), with relayState.
//
// HTTP-Redirect (SAML bindings §3.4.4.1): the message is DEFLATEd (raw),
// base64-encoded and URL-encoded into SAMLRequest or SAMLResponse, then
// RelayState and SigAlg follow, and Signature is RSA-SHA256 over exactly
// those octets as they appear in the URL; the XML itself carries no
// signature. HTTP-POST: the message gets an enveloped signature after its
// Issuer and travels base64-encoded in a form field.
func (o Outbound) Send(ctx context.Context, msg *etree.Element, binding, location, relayState string) (Outgoing, error) {
	if o.Signer == nil {
		return Outgoing{}, errors.New("saml: outbound messages need a signer")
	}
	if err := checkLocation(location); err != nil {
		return Outgoing{}, err
	}
	param := ParamRequest
	if strings.HasSuffix(msg.Tag, "Response") {
		param = ParamResponse
	}
	switch binding {
	case BindingRedirect:
		u, err := o.redirectURL(msg, param, location, relayState)
		return Outgoing{Binding: binding, URL: u}, err
	case BindingPOST:
		signed := msg.Copy()
		if err := o.Signer.SignEnveloped(ctx, signed, "ID", 1); err != nil {
			return Outgoing{}, err
		}
		raw, err := assertion.Marshal(signed, false)
		if err != nil {
			return Outgoing{}, err
		}
		m := Outgoing{Binding: binding, URL: location, Fields: []Field{{param, base64.StdEncoding.EncodeToString(raw)}}}
		if relayState != "" {
			m.Fields = append(m.Fields, Field{ParamRelayState, relayState})
		}
		return m, nil
	}
	return Outgoing{}, fmt.Errorf("saml: binding %q is not supported for outbound messages", binding)
}

func (o Outbound) redirectURL(msg *etree.Element, param, location, relayState string) (string, error) {
	if msg.FindElement("./Signature") != nil {
		return "", errors.New("saml: a message for HTTP-Redirect must not carry an XML signature")
	}
	raw, err := assertion.Marshal(msg, false)
	if err != nil {
		return "", err
	}
	var deflated bytes.Buffer
	fw, err := flate.NewWriter(&deflated, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := fw.Write(raw); err != nil {
		return "", err
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	// The signed octets are the query as written, in the order the
	// binding fixes; url.Values.Encode would sort them.
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflated.Bytes()))
	if relayState != "" {
		q += "&" + ParamRelayState + "=" + url.QueryEscape(relayState)
	}
	q += "&" + ParamSigAlg + "=" + url.QueryEscape(SigAlgRSASHA256)
	digest := sha256.Sum256([]byte(q))
	sig, err := o.Signer.KeyPair().Signer().Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("saml: sign the redirect: %w", err)
	}
	q += "&" + ParamSignature + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	sep := "?"
	if strings.Contains(location, "?") {
		sep = "&"
	}
	return location + sep + q, nil
}

// checkLocation accepts the absolute http(s) URLs an SP's metadata lists
// (no fragment: the binding appends a query).
func checkLocation(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("saml: %q is not an absolute http(s) URL without a fragment", s)
	}
	return nil
}
