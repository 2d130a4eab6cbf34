package saml

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Defaults of a Parser's freshness checks.
const (
	DefaultMaxAge = 5 * time.Minute
	DefaultSkew   = time.Minute
)

// Limits on what a request may list.
const (
	maxIDLength  = 256
	maxURLLength = 2048
	maxListItems = 32
)

// Parser reads and checks the messages SPs send to Gatehouse:
// AuthnRequests on the SSO endpoint, LogoutRequests and LogoutResponses
// on the SLO endpoint. Every error wraps one of the Err* sentinels with a
// reason meant for the log (attacker-chosen values in it are truncated).
type Parser struct {
	// Lookup finds a configured SP by entity ID.
	Lookup func(entityID string) (*ServiceProvider, bool)
	// Replay remembers accepted message IDs; required.
	Replay ReplayCache
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SSOURL and SLOURL are Gatehouse's absolute SSO and SLO endpoint
	// URLs, which a message's Destination must equal.
	SSOURL string
	SLOURL string
	// MaxAge is how old an IssueInstant may be (DefaultMaxAge when zero);
	// Skew is the clock difference allowed either way (DefaultSkew when
	// zero).
	MaxAge time.Duration
	Skew   time.Duration
}

func (p *Parser) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Parser) maxAge() time.Duration {
	if p.MaxAge > 0 {
		return p.MaxAge
	}
	return DefaultMaxAge
}

func (p *Parser) skew() time.Duration {
	if p.Skew > 0 {
		return p.Skew
	}
	return DefaultSkew
}

// AuthnRequest reads an AuthnRequest from r over either binding and
// checks it: a known Issuer (ErrUnknownSP), the signature (ErrSignature,
// see Message.Verify), SAML 2.0 and a well-formed ID (ErrMalformed),
// Destination equal to SSOURL when present, and present when the
// request is signed (SAML bindings 3.4.5.2, 3.5.5.2; Entra is excused),
// a fresh IssueInstant (ErrStale) and an ACS from the SP's list
// (ErrACSNotAllowed). Only once all of that holds is the ID remembered;
// a second use is ErrReplay. Every value is read from the element the
// signature check returned.
//
// Two errors are for the SP to see, as a SAML status posted to the
// request's ACS: a ProtocolBinding other than HTTP-POST
// (ErrUnsupportedBinding) and an AuthnContextDeclRef (ErrNoAuthnContext).
// With those, and only those, the request is returned too. Any other
// error gets nothing posted anywhere.
func (p *Parser) AuthnRequest(ctx context.Context, r *http.Request) (*AuthnRequest, error) {
	m, sp, el, signed, err := p.read(r, ParamRequest, "AuthnRequest")
	if err != nil {
		return nil, err
	}
	h, err := p.header(el, sp, signed, p.SSOURL)
	if err != nil {
		return nil, err
	}
	req := &AuthnRequest{
		ID: h.id, IssueInstant: h.issueInstant, SP: sp, Signed: signed,
		Binding: m.Binding, RelayState: m.RelayState, Comparison: "exact",
	}
	if req.ACS, err = resolveACS(el, sp); err != nil {
		return nil, err
	}
	if req.ForceAuthn, err = boolAttr(el, "ForceAuthn"); err != nil {
		return nil, err
	}
	if req.IsPassive, err = boolAttr(el, "IsPassive"); err != nil {
		return nil, err
	}
	var answer error
	for _, c := range el.ChildElements() {
		switch {
		case c.Tag == "NameIDPolicy" && c.NamespaceURI() == NSProtocol:
			req.NameIDFormat, _ = attr(c, "Format")
			if len(req.NameIDFormat) > maxURLLength {
				return nil, fmt.Errorf("%w: NameIDPolicy Format too long", ErrMalformed)
			}
			if req.AllowCreate, err = boolAttr(c, "AllowCreate"); err != nil {
				return nil, err
			}
		case c.Tag == "Subject" && c.NamespaceURI() == NSAssertion:
			if n := c.SelectElement("NameID"); n != nil && n.NamespaceURI() == NSAssertion {
				req.Subject.Value = strings.TrimSpace(n.Text())
				req.Subject.Format, _ = attr(n, "Format")
				if len(req.Subject.Value) > 256 || len(req.Subject.Format) > maxURLLength {
					return nil, fmt.Errorf("%w: Subject NameID too long", ErrMalformed)
				}
			}
		case c.Tag == "RequestedAuthnContext" && c.NamespaceURI() == NSProtocol:
			if answer, err = readAuthnContext(c, req); err != nil {
				return nil, err
			}
		}
	}
	if b, ok := attr(el, "ProtocolBinding"); ok && b != BindingPOST {
		answer = fmt.Errorf("%w: ProtocolBinding %.80q (responses go by HTTP-POST only)", ErrUnsupportedBinding, b)
	}
	if err := p.remember(ctx, sp, h); err != nil {
		return nil, err
	}
	if answer != nil {
		return req, answer
	}
	return req, nil
}

// read reads the message in param, finds its SP by the unverified Issuer,
// verifies it and checks that the verified element is a protocol message
// named tag.
func (p *Parser) read(r *http.Request, param, tag string) (*Message, *ServiceProvider, *etree.Element, bool, error) {
	m, err := ReadMessage(r, param)
	if err != nil {
		return nil, nil, nil, false, err
	}
	if err := isMessage(m.root, tag); err != nil {
		return nil, nil, nil, false, err
	}
	iss := m.Issuer()
	if iss == "" {
		return nil, nil, nil, false, fmt.Errorf("%w: no Issuer", ErrMalformed)
	}
	sp, ok := p.Lookup(iss)
	if !ok || sp == nil {
		return nil, nil, nil, false, fmt.Errorf("%w: issuer %.128q", ErrUnknownSP, iss)
	}
	el, signed, err := m.Verify(sp)
	if err != nil {
		return nil, nil, nil, false, err
	}
	if err := isMessage(el, tag); err != nil {
		return nil, nil, nil, false, err
	}
	if got := issuerOf(el); got != sp.EntityID {
		// The same document was read twice; only a bug gets here.
		return nil, nil, nil, false, fmt.Errorf("%w: the verified Issuer is not %s", ErrSignature, sp.Name)
	}
	return m, sp, el, signed, nil
}

func isMessage(el *etree.Element, tag string) error {
	if el.Tag != tag || el.NamespaceURI() != NSProtocol {
		return fmt.Errorf("%w: not a SAML 2.0 %s (<%.32s> in %.80q)", ErrMalformed, tag, el.Tag, el.NamespaceURI())
	}
	return nil
}

// header is what every request and response carries.
type header struct {
	id           string
	issueInstant time.Time
}

// header checks Version, ID, IssueInstant and Destination (which must be
// dest when present, and be present when signed).
func (p *Parser) header(el *etree.Element, sp *ServiceProvider, signed bool, dest string) (header, error) {
	var h header
	if v, _ := attr(el, "Version"); v != "2.0" {
		return h, fmt.Errorf("%w: Version %.16q is not 2.0", ErrMalformed, v)
	}
	h.id, _ = attr(el, "ID")
	if !validID(h.id) {
		return h, fmt.Errorf("%w: ID %.64q is not an xs:ID", ErrMalformed, h.id)
	}
	d, hasDest := attr(el, "Destination")
	switch {
	case hasDest && d != dest:
		return h, fmt.Errorf("%w: Destination %.128q is not %s", ErrMalformed, d, dest)
	case !hasDest && signed && !sp.Entra:
		return h, fmt.Errorf("%w: a signed message must name its Destination", ErrMalformed)
	}
	is, _ := attr(el, "IssueInstant")
	t, err := parseInstant(is)
	if err != nil {
		return h, fmt.Errorf("%w: IssueInstant %.40q", ErrMalformed, is)
	}
	now := p.now()
	if t.Before(now.Add(-p.maxAge() - p.skew())) {
		return h, fmt.Errorf("%w: issued %s ago", ErrStale, now.Sub(t).Round(time.Second))
	}
	if t.After(now.Add(p.skew())) {
		return h, fmt.Errorf("%w: issued %s in the future", ErrStale, t.Sub(now).Round(time.Second))
	}
	h.issueInstant = t
	return h, nil
}

// remember records the message's ID until it is too old to be accepted
// anyway.
func (p *Parser) remember(ctx context.Context, sp *ServiceProvider, h header) error {
	if p.Replay == nil {
		return errors.New("saml: parser has no replay cache")
	}
	until := h.issueInstant.Add(p.maxAge() + p.skew())
	if err := p.Replay.Remember(ctx, replayKey(sp, h.id), until); err != nil {
		if errors.Is(err, ErrReplay) {
			return fmt.Errorf("%w: %s sent ID %.64q before", ErrReplay, sp.Name, h.id)
		}
		return err
	}
	return nil
}

// parseInstant reads an xs:dateTime (SAML wants UTC; an offset is
// converted).
func parseInstant(s string) (time.Time, error) {
	if len(s) > 40 {
		return time.Time{}, errors.New("too long")
	}
	return time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
}

// validID reports whether id is an NCName (ASCII only) of sensible
// length, as xs:ID wants.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && (c == '-' || c == '.' || '0' <= c && c <= '9'):
		default:
			return false
		}
	}
	return true
}

// boolAttr reads an optional xs:boolean attribute.
func boolAttr(el *etree.Element, name string) (bool, error) {
	v, ok := attr(el, name)
	if !ok {
		return false, nil
	}
	switch strings.TrimSpace(v) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%w: %s %.16q is not a boolean", ErrMalformed, name, v)
}

// resolveACS picks the ACS the response goes to: the one with the index
// asked for, the one whose URL equals the URL asked for byte for byte, or
// the SP's default. It never returns a URL not in sp.ACS.
func resolveACS(el *etree.Element, sp *ServiceProvider) (string, error) {
	idx, hasIdx := attr(el, "AssertionConsumerServiceIndex")
	u, hasURL := attr(el, "AssertionConsumerServiceURL")
	acs := make([]Endpoint, 0, len(sp.ACS))
	for _, e := range sp.ACS {
		if e.Binding == "" || e.Binding == BindingPOST {
			acs = append(acs, e)
		}
	}
	switch {
	case hasIdx && hasURL:
		return "", fmt.Errorf("%w: both AssertionConsumerServiceIndex and AssertionConsumerServiceURL", ErrMalformed)
	case hasIdx:
		n, err := strconv.ParseUint(strings.TrimSpace(idx), 10, 16)
		if err != nil {
			return "", fmt.Errorf("%w: AssertionConsumerServiceIndex %.16q", ErrMalformed, idx)
		}
		for _, e := range acs {
			if e.Index == int(n) {
				return e.Location, nil
			}
		}
		return "", fmt.Errorf("%w: %s has no ACS with index %d", ErrACSNotAllowed, sp.Name, n)
	case hasURL:
		for _, e := range acs {
			if e.Location == u {
				return e.Location, nil
			}
		}
		return "", fmt.Errorf("%w: %.256q is not an ACS of %s", ErrACSNotAllowed, u, sp.Name)
	}
	if len(acs) == 0 {
		return "", fmt.Errorf("%w: %s has no HTTP-POST ACS", ErrACSNotAllowed, sp.Name)
	}
	best := acs[0]
	for _, e := range acs {
		if e.IsDefault {
			return e.Location, nil
		}
		if e.Index < best.Index {
			best = e
		}
	}
	return best.Location, nil
}

// readAuthnContext reads RequestedAuthnContext's classes and comparison.
// answer is an error for the SP: it asks for a declaration.
func readAuthnContext(c *etree.Element, req *AuthnRequest) (answer, err error) {
	if cmp, ok := attr(c, "Comparison"); ok {
		switch cmp {
		case "exact", "minimum", "maximum", "better":
			req.Comparison = cmp
		default:
			return nil, fmt.Errorf("%w: Comparison %.16q", ErrMalformed, cmp)
		}
	}
	for _, ref := range c.ChildElements() {
		if ref.NamespaceURI() != NSAssertion {
			continue
		}
		switch ref.Tag {
		case "AuthnContextClassRef":
			v, err := textOf(ref)
			if err != nil {
				return nil, err
			}
			v = strings.TrimSpace(v)
			if len(v) > maxURLLength || len(req.RequestedClasses) >= maxListItems {
				return nil, fmt.Errorf("%w: RequestedAuthnContext too large", ErrMalformed)
			}
			req.RequestedClasses = append(req.RequestedClasses, v)
		case "AuthnContextDeclRef":
			// Declarations are not supported; a request that asks for one
			// gets NoAuthnContext rather than an assertion it did not
			// ask for.
			answer = fmt.Errorf("%w: AuthnContextDeclRef is not supported", ErrNoAuthnContext)
		}
	}
	return answer, nil
}
