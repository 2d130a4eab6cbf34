package wstrust

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// Version is the WS-Trust version of an endpoint or a request.
type Version int

// The two versions MSAL speaks.
const (
	Trust13 Version = iota + 1
	Trust2005
)

func (v Version) String() string {
	switch v {
	case Trust13:
		return "WS-Trust 1.3"
	case Trust2005:
		return "WS-Trust 2005"
	}
	return "unknown WS-Trust version"
}

// SOAPVersion is the envelope version of a request; the answer uses the
// same.
type SOAPVersion int

// SOAP versions.
const (
	SOAP12 SOAPVersion = iota + 1
	SOAP11
)

// Namespaces and URIs (WSTRUST.md sections 2 and 3).
const (
	NSSOAP12         = "http://www.w3.org/2003/05/soap-envelope"
	NSSOAP11         = "http://schemas.xmlsoap.org/soap/envelope/"
	NSAddressing     = "http://www.w3.org/2005/08/addressing"
	NSAddressing2004 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NSWSSE           = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSWSU            = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	NSPolicy         = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	NSPolicy15       = "http://www.w3.org/ns/ws-policy"
	NSTrust13        = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	NSTrust2005      = "http://schemas.xmlsoap.org/ws/2005/02/trust"

	ActionIssue13       = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"
	ActionIssue2005     = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue"
	ActionResponse13    = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal"
	ActionResponse2005  = "http://schemas.xmlsoap.org/ws/2005/02/trust/RSTR/Issue"
	ActionFault         = "http://www.w3.org/2005/08/addressing/soap/fault"
	RequestTypeIssue13  = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"
	RequestTypeIssue05  = "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue"
	KeyTypeBearer13     = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer" // #nosec G101 -- a URI, not a credential.
	KeyTypeNoProofKey   = "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey"
	PasswordText        = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText" // #nosec G101 -- a URI, not a credential.
	TokenTypeSAML11     = "urn:oasis:names:tc:SAML:1.0:assertion"                                                           // #nosec G101 -- a URI, not a credential.
	TokenTypeSAML11WSS  = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1"                        // #nosec G101 -- a URI, not a credential.
	DefaultMaxSkew      = 5 * time.Minute
	DefaultMaxBodyBytes = 64 << 10
	maxUsername         = 1024
	maxPassword         = 1024
)

func (v Version) trustNS() string {
	if v == Trust2005 {
		return NSTrust2005
	}
	return NSTrust13
}

func (v Version) issueAction() string {
	if v == Trust2005 {
		return ActionIssue2005
	}
	return ActionIssue13
}

// ErrBadRequest is wrapped by every parse error; the message after it
// says what was wrong without repeating the request's values.
var ErrBadRequest = errors.New("wstrust: bad request")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// Request is a parsed usernamemixed RequestSecurityToken.
type Request struct {
	Version Version
	SOAP    SOAPVersion
	// Action is wsa:Action (or the SOAPAction HTTP header).
	Action string
	// MessageID is wsa:MessageID when sent ("" otherwise); the answer
	// relates to it.
	MessageID string
	// To is wsa:To when sent.
	To string
	// AppliesTo is the relying party the token is for.
	AppliesTo   string
	RequestType string
	KeyType     string
	TokenType   string
	// Username is wsse:Username as typed (a UPN or an alternate login).
	Username string
	// Created and Expires are the wsu:Timestamp; zero when absent.
	Created, Expires time.Time

	password string
}

// Password returns wsse:Password. It is kept out of String, LogValue and
// %v so that logging a Request never leaks it.
func (r *Request) Password() string { return r.password }

// String describes the request without the password.
func (r Request) String() string {
	return fmt.Sprintf("%s RST for %q from %q (message %q)", r.Version, r.AppliesTo, r.Username, r.MessageID)
}

// LogValue logs the request without the password.
func (r Request) LogValue() slog.Value {
	return slog.GroupValue(slog.String("version", r.Version.String()), slog.String("applies_to", r.AppliesTo),
		slog.String("user", r.Username), slog.String("message_id", r.MessageID))
}

// ParseOptions say what a request must match.
type ParseOptions struct {
	// Version is the endpoint's; the request's body must be the same.
	Version Version
	// Endpoint is the endpoint's public URL. When set, a wsa:To must
	// point at it (scheme ignored, host case-insensitive, trailing slash
	// ignored: behind TLS offload the client still uses https).
	Endpoint string
	// SOAPAction is the HTTP SOAPAction header, used when the envelope
	// has no wsa:Action.
	SOAPAction string
	// Now and MaxSkew check the wsu:Timestamp. MaxSkew zero:
	// DefaultMaxSkew.
	Now     time.Time
	MaxSkew time.Duration
	// MaxBytes caps the body. Zero: DefaultMaxBodyBytes.
	MaxBytes int
}

// ParseRequest parses and checks a SOAP 1.2 or 1.1 envelope holding a
// WS-Trust Issue request with a WS-Security UsernameToken. It refuses
// oversize bodies, DTDs and entity declarations, unknown headers marked
// mustUnderstand, proof-key and non-SAML-1.1 token requests, stale or
// future timestamps, password digests, and a body of the other WS-Trust
// version. Every error wraps ErrBadRequest.
func ParseRequest(body []byte, o ParseOptions) (*Request, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBodyBytes
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	if len(body) > o.MaxBytes {
		return nil, bad("body larger than %d bytes", o.MaxBytes)
	}
	env, err := parseXML(body)
	if err != nil {
		return nil, err
	}
	r := &Request{}
	switch env.NamespaceURI() {
	case NSSOAP12:
		r.SOAP = SOAP12
	case NSSOAP11:
		r.SOAP = SOAP11
	default:
		return nil, bad("not a SOAP envelope")
	}
	if env.Tag != "Envelope" {
		return nil, bad("not a SOAP envelope")
	}
	envNS := env.NamespaceURI()
	var header, bodyEl *etree.Element
	for _, c := range env.ChildElements() {
		switch {
		case is(c, envNS, "Header") && header == nil && bodyEl == nil:
			header = c
		case is(c, envNS, "Body") && bodyEl == nil:
			bodyEl = c
		default:
			return nil, bad("unexpected <%s> in the envelope", c.Tag)
		}
	}
	if bodyEl == nil {
		return nil, bad("no SOAP Body")
	}
	if header == nil {
		return nil, bad("no SOAP Header (the UsernameToken travels there)")
	}
	if err := r.parseHeader(header, envNS, o); err != nil {
		return nil, err
	}
	if err := r.parseBody(bodyEl, o); err != nil {
		return nil, err
	}
	return r, nil
}

// parseXML reads one element, refusing anything but an XML declaration,
// comments and whitespace around it.
func parseXML(body []byte) (*etree.Element, error) {
	if bytes.Contains(body, []byte("<!")) {
		// Comments and CDATA are legal but no MSAL sends them; refusing
		// every "<!" also refuses DOCTYPE and ENTITY in any spelling.
		return nil, bad("DTDs, entity declarations, comments and CDATA are not accepted")
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{}
	if err := doc.ReadFromBytes(body); err != nil {
		return nil, bad("not well-formed XML")
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, bad("more than one root element")
			}
			root = t
		case *etree.ProcInst:
			if t.Target != "xml" {
				return nil, bad("processing instructions are not accepted")
			}
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return nil, bad("text outside the envelope")
			}
		default:
			return nil, bad("unexpected content outside the envelope")
		}
	}
	if root == nil {
		return nil, bad("empty document")
	}
	return root, nil
}

func is(e *etree.Element, ns, local string) bool { return e.Tag == local && e.NamespaceURI() == ns }

func isAddressing(e *etree.Element) bool {
	ns := e.NamespaceURI()
	return ns == NSAddressing || ns == NSAddressing2004
}

func mustUnderstand(e *etree.Element, envNS string) bool {
	for _, a := range e.Attr {
		if a.Key == "mustUnderstand" && a.NamespaceURI() == envNS {
			v := strings.TrimSpace(a.Value)
			return v == "1" || v == "true"
		}
	}
	return false
}

func (r *Request) parseHeader(h *etree.Element, envNS string, o ParseOptions) error {
	var sec *etree.Element
	for _, c := range h.ChildElements() {
		switch {
		case isAddressing(c) && c.Tag == "Action":
			r.Action = strings.TrimSpace(c.Text())
		case isAddressing(c) && strings.EqualFold(c.Tag, "MessageID"):
			if id := strings.TrimSpace(c.Text()); len(id) <= 256 {
				r.MessageID = id
			}
		case isAddressing(c) && c.Tag == "To":
			r.To = strings.TrimSpace(c.Text())
		case isAddressing(c) && c.Tag == "ReplyTo":
		case is(c, NSWSSE, "Security"):
			if sec != nil {
				return bad("more than one wsse:Security header")
			}
			sec = c
		case mustUnderstand(c, envNS):
			return bad("header %.64s is marked mustUnderstand and is not understood", c.Tag)
		}
	}
	if r.Action == "" {
		r.Action = strings.Trim(strings.TrimSpace(o.SOAPAction), `"`)
	}
	if r.Action != "" && r.Action != o.Version.issueAction() {
		return bad("action is not %s Issue", o.Version)
	}
	if r.To != "" && o.Endpoint != "" && !sameEndpoint(r.To, o.Endpoint) {
		return bad("wsa:To is not this endpoint")
	}
	if sec == nil {
		return bad("no wsse:Security header")
	}
	return r.parseSecurity(sec, o)
}

// sameEndpoint compares host (case-insensitively) and path (ignoring a
// trailing slash); the scheme is ignored.
func sameEndpoint(to, endpoint string) bool {
	a, err1 := url.Parse(to)
	b, err2 := url.Parse(endpoint)
	if err1 != nil || err2 != nil || a.Host == "" {
		return false
	}
	return strings.EqualFold(a.Host, b.Host) && strings.TrimSuffix(a.Path, "/") == strings.TrimSuffix(b.Path, "/")
}

func (r *Request) parseSecurity(sec *etree.Element, o ParseOptions) error {
	var tok *etree.Element
	for _, c := range sec.ChildElements() {
		switch {
		case is(c, NSWSU, "Timestamp"):
			if err := r.parseTimestamp(c, o); err != nil {
				return err
			}
		case is(c, NSWSSE, "UsernameToken"):
			if tok != nil {
				return bad("more than one UsernameToken")
			}
			tok = c
		}
	}
	if tok == nil {
		return bad("no wsse:UsernameToken")
	}
	var user, pass *etree.Element
	for _, c := range tok.ChildElements() {
		switch {
		case is(c, NSWSSE, "Username") && user == nil:
			user = c
		case is(c, NSWSSE, "Password") && pass == nil:
			pass = c
		}
	}
	if user == nil || pass == nil {
		return bad("the UsernameToken needs a Username and a Password")
	}
	if t := pass.SelectAttrValue("Type", ""); t != "" && t != PasswordText {
		return bad("only PasswordText passwords are accepted")
	}
	r.Username = strings.TrimSpace(user.Text())
	r.password = pass.Text()
	switch {
	case r.Username == "":
		return bad("empty Username")
	case len(r.Username) > maxUsername:
		return bad("Username longer than %d bytes", maxUsername)
	case len(r.password) > maxPassword:
		return bad("Password longer than %d bytes", maxPassword)
	case strings.ContainsFunc(r.Username, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return bad("control characters in the Username")
	}
	return nil
}

func (r *Request) parseTimestamp(ts *etree.Element, o ParseOptions) error {
	parse := func(name string) (time.Time, error) {
		for _, c := range ts.ChildElements() {
			if is(c, NSWSU, name) {
				t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(c.Text()))
				if err != nil {
					return time.Time{}, bad("wsu:%s is not a date-time", name)
				}
				return t, nil
			}
		}
		return time.Time{}, nil
	}
	var err error
	if r.Created, err = parse("Created"); err != nil {
		return err
	}
	if r.Expires, err = parse("Expires"); err != nil {
		return err
	}
	if !r.Created.IsZero() && r.Created.After(o.Now.Add(o.MaxSkew)) {
		return bad("the security timestamp is invalid because its creation time is in the future")
	}
	if !r.Expires.IsZero() && r.Expires.Before(o.Now.Add(-o.MaxSkew)) {
		return bad("the security timestamp has expired")
	}
	if !r.Created.IsZero() && !r.Expires.IsZero() && r.Expires.Before(r.Created) {
		return bad("the security timestamp expires before it was created")
	}
	return nil
}

func (r *Request) parseBody(b *etree.Element, o ParseOptions) error {
	kids := b.ChildElements()
	if len(kids) != 1 || kids[0].Tag != "RequestSecurityToken" {
		return bad("the Body must hold one RequestSecurityToken")
	}
	rst := kids[0]
	switch rst.NamespaceURI() {
	case NSTrust13:
		r.Version = Trust13
	case NSTrust2005:
		r.Version = Trust2005
	default:
		return bad("RequestSecurityToken in an unknown namespace")
	}
	if r.Version != o.Version {
		return bad("a %s request sent to the %s endpoint", r.Version, o.Version)
	}
	ns := o.Version.trustNS()
	for _, c := range rst.ChildElements() {
		switch {
		case is(c, ns, "RequestType"):
			r.RequestType = strings.TrimSpace(c.Text())
		case is(c, ns, "KeyType"):
			r.KeyType = strings.TrimSpace(c.Text())
		case is(c, ns, "TokenType"):
			r.TokenType = strings.TrimSpace(c.Text())
		case c.Tag == "AppliesTo" && (c.NamespaceURI() == NSPolicy || c.NamespaceURI() == NSPolicy15):
			for _, epr := range c.ChildElements() {
				if isAddressing(epr) && epr.Tag == "EndpointReference" {
					for _, a := range epr.ChildElements() {
						if isAddressing(a) && a.Tag == "Address" {
							r.AppliesTo = strings.TrimSpace(a.Text())
						}
					}
				}
			}
		}
	}
	wantType := RequestTypeIssue13
	if r.Version == Trust2005 {
		wantType = RequestTypeIssue05
	}
	switch {
	case r.RequestType != wantType:
		return bad("RequestType must be %s", wantType)
	case r.AppliesTo == "":
		return bad("no AppliesTo address")
	case r.KeyType != "" && r.KeyType != KeyTypeBearer13 && r.KeyType != KeyTypeNoProofKey:
		return bad("only bearer tokens are issued (KeyType Bearer or NoProofKey)")
	case r.TokenType != "" && r.TokenType != TokenTypeSAML11 && r.TokenType != TokenTypeSAML11WSS:
		return bad("only SAML 1.1 tokens are issued")
	}
	if err := assertion.CheckText("AppliesTo", r.AppliesTo); err != nil {
		return bad("%v", err)
	}
	return nil
}
