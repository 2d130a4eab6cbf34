package saml

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/beevik/etree"
)

// LogoutRequest reads a LogoutRequest from r over either binding and
// checks it like an AuthnRequest (known Issuer, signature, SAML 2.0, ID,
// Destination = SLOURL, fresh IssueInstant, then the replay cache), and
// also: it must be signed when the SP has signing certificates
// (ErrSignature), except from Entra, which signs its AuthnRequests but
// not its sign-out; unsigned it is accepted with Signed false, and the
// caller acts on it only for the session it matches. Its NotOnOrAfter
// must not have passed (ErrStale), and it must name a NameID
// (ErrMalformed; an EncryptedID or BaseID is not supported).
func (p *Parser) LogoutRequest(ctx context.Context, r *http.Request) (*LogoutRequest, error) {
	m, sp, el, signed, err := p.read(r, ParamRequest, "LogoutRequest")
	if err != nil {
		return nil, err
	}
	if !signed && len(sp.SigningCerts) > 0 && !sp.Entra {
		return nil, fmt.Errorf("%w: an unsigned LogoutRequest from %s, which can sign", ErrSignature, sp.Name)
	}
	h, err := p.header(el, sp, signed, p.SLOURL)
	if err != nil {
		return nil, err
	}
	if v, ok := attr(el, "NotOnOrAfter"); ok {
		t, err := parseInstant(v)
		if err != nil {
			return nil, fmt.Errorf("%w: NotOnOrAfter %.40q", ErrMalformed, v)
		}
		if !p.now().Before(t.Add(p.skew())) {
			return nil, fmt.Errorf("%w: NotOnOrAfter has passed", ErrStale)
		}
	}
	lr := &LogoutRequest{
		ID: h.id, IssueInstant: h.issueInstant, SP: sp, Signed: signed,
		Binding: m.Binding, RelayState: m.RelayState,
	}
	var hasNameID bool
	for _, c := range el.ChildElements() {
		switch ns := c.NamespaceURI(); {
		case ns == NSAssertion && c.Tag == "NameID":
			if hasNameID {
				return nil, fmt.Errorf("%w: more than one NameID", ErrMalformed)
			}
			hasNameID = true
			if lr.NameID, err = readNameID(c); err != nil {
				return nil, err
			}
		case ns == NSAssertion && (c.Tag == "EncryptedID" || c.Tag == "BaseID"):
			return nil, fmt.Errorf("%w: %s is not supported (NameID only)", ErrMalformed, c.Tag)
		case ns == NSProtocol && c.Tag == "SessionIndex":
			v, err := textOf(c)
			if err != nil {
				return nil, err
			}
			v = strings.TrimSpace(v)
			if v == "" || len(v) > maxIDLength || len(lr.SessionIndexes) >= maxListItems {
				return nil, fmt.Errorf("%w: SessionIndex empty, too long or too many", ErrMalformed)
			}
			lr.SessionIndexes = append(lr.SessionIndexes, v)
		}
	}
	if !hasNameID {
		return nil, fmt.Errorf("%w: no NameID", ErrMalformed)
	}
	if err := p.remember(ctx, sp, h); err != nil {
		return nil, err
	}
	return lr, nil
}

// LogoutResponse reads a LogoutResponse from r over either binding and
// checks it like an AuthnRequest (known Issuer, signature, SAML 2.0, ID,
// Destination = SLOURL, fresh IssueInstant, then the replay cache). It
// must carry a top-level StatusCode (ErrMalformed); InResponseTo is
// returned for the caller to match with the request it sent.
func (p *Parser) LogoutResponse(ctx context.Context, r *http.Request) (*LogoutResponse, error) {
	m, sp, el, signed, err := p.read(r, ParamResponse, "LogoutResponse")
	if err != nil {
		return nil, err
	}
	h, err := p.header(el, sp, signed, p.SLOURL)
	if err != nil {
		return nil, err
	}
	lr := &LogoutResponse{ID: h.id, SP: sp, Signed: signed, Binding: m.Binding, RelayState: m.RelayState}
	if v, ok := attr(el, "InResponseTo"); ok {
		if !validID(v) {
			return nil, fmt.Errorf("%w: InResponseTo %.64q is not an xs:ID", ErrMalformed, v)
		}
		lr.InResponseTo = v
	}
	if st := onlyChild(el, NSProtocol, "Status"); st != nil {
		if code := onlyChild(st, NSProtocol, "StatusCode"); code != nil {
			lr.Status, _ = attr(code, "Value")
		}
	}
	if lr.Status == "" || len(lr.Status) > maxURLLength {
		return nil, fmt.Errorf("%w: no single Status with a StatusCode", ErrMalformed)
	}
	if err := p.remember(ctx, sp, h); err != nil {
		return nil, err
	}
	return lr, nil
}

// readNameID reads a saml:NameID.
func readNameID(el *etree.Element) (NameID, error) {
	v, err := textOf(el)
	if err != nil {
		return NameID{}, err
	}
	n := NameID{Value: strings.TrimSpace(v)}
	n.Format, _ = attr(el, "Format")
	n.SPNameQualifier, _ = attr(el, "SPNameQualifier")
	if n.Value == "" || len(n.Value) > maxURLLength || len(n.Format) > maxURLLength || len(n.SPNameQualifier) > maxURLLength {
		return NameID{}, fmt.Errorf("%w: NameID empty or too long", ErrMalformed)
	}
	return n, nil
}
