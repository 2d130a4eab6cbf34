package wstrust

import (
	"errors"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
)

// ResponseTimestampLifetime is how long the response's wsu:Timestamp says
// the message is fresh.
const ResponseTimestampLifetime = 5 * time.Minute

func envNS(s SOAPVersion) string {
	if s == SOAP11 {
		return NSSOAP11
	}
	return NSSOAP12
}

// ContentType is the media type of an answer in SOAP version s.
func ContentType(s SOAPVersion) string {
	if s == SOAP11 {
		return "text/xml; charset=utf-8"
	}
	return "application/soap+xml; charset=utf-8"
}

func envelope(s SOAPVersion, action, relatesTo string) (env, header, body *etree.Element) {
	env = etree.NewElement("s:Envelope")
	env.CreateAttr("xmlns:s", envNS(s))
	env.CreateAttr("xmlns:a", NSAddressing)
	env.CreateAttr("xmlns:u", NSWSU)
	header = env.CreateElement("s:Header")
	act := header.CreateElement("a:Action")
	act.CreateAttr("s:mustUnderstand", "1")
	act.SetText(action)
	if relatesTo != "" {
		header.CreateElement("a:RelatesTo").SetText(relatesTo)
	}
	body = env.CreateElement("s:Body")
	return env, header, body
}

// BuildResponse wraps the signed assertion a in the RSTR the request's
// version wants, in the request's SOAP version, at now:
//   - 1.3: Body/trust:RequestSecurityTokenResponseCollection/
//     trust:RequestSecurityTokenResponse, KeyType Bearer;
//   - 2005: Body/t:RequestSecurityTokenResponse, KeyType NoProofKey;
//
// each with TokenType urn:oasis:names:tc:SAML:1.0:assertion and exactly one
// RequestedSecurityToken holding only the assertion. The header carries
// Action, RelatesTo (the request's MessageID) and a wsu:Timestamp.
func BuildResponse(req *Request, a *assertion.Assertion, now time.Time) ([]byte, error) {
	if req == nil || a == nil {
		return nil, errors.New("wstrust: response needs the request and the assertion")
	}
	action := ActionResponse13
	if req.Version == Trust2005 {
		action = ActionResponse2005
	}
	env, header, body := envelope(req.SOAP, action, req.MessageID)
	sec := header.CreateElement("o:Security")
	sec.CreateAttr("s:mustUnderstand", "1")
	sec.CreateAttr("xmlns:o", NSWSSE)
	ts := sec.CreateElement("u:Timestamp")
	ts.CreateAttr("u:Id", "_0")
	ts.CreateElement("u:Created").SetText(assertion.FormatTime(now))
	ts.CreateElement("u:Expires").SetText(assertion.FormatTime(now.Add(ResponseTimestampLifetime)))
	if req.Version == Trust2005 {
		body.AddChild(wsfed.RSTRElement(a, wsfed.RSTRParts{
			Prefix: "t", Namespace: NSTrust2005, RequestType: RequestTypeIssue05, KeyType: KeyTypeNoProofKey,
		}))
	} else {
		coll := body.CreateElement("trust:RequestSecurityTokenResponseCollection")
		coll.CreateAttr("xmlns:trust", NSTrust13)
		rstr := wsfed.RSTRElement(a, wsfed.RSTRParts{
			Prefix: "trust", Namespace: NSTrust13, RequestType: RequestTypeIssue13, KeyType: KeyTypeBearer13,
		})
		rstr.RemoveAttr("xmlns:trust")
		coll.AddChild(rstr)
	}
	return assertion.Marshal(env, false)
}

// FaultKind is the class of a SOAP fault.
type FaultKind int

// The fault classes.
const (
	// FaultInvalidRequest: the request was malformed or asks for what is
	// not offered (Sender, wst:InvalidRequest).
	FaultInvalidRequest FaultKind = iota + 1
	// FaultFailedAuthentication: wrong user name or password, or an
	// account that may not sign in here — one answer for all
	// (Sender, wst:FailedAuthentication).
	FaultFailedAuthentication
	// FaultRequestFailed: Gatehouse could not answer (directory down,
	// internal error) (Receiver, wst:RequestFailed).
	FaultRequestFailed
)

// The fault texts. The failed-authentication one is AD FS's, which
// clients and admins recognise.
const (
	ReasonInvalidRequest       = "ID3082: The request is not valid or is unsupported."
	ReasonFailedAuthentication = "ID3242: The security token could not be authenticated or authorized."
	ReasonRequestFailed        = "The request failed. Try again later."
)

func (k FaultKind) parts() (sender bool, subcode, reason string) {
	switch k {
	case FaultInvalidRequest:
		return true, "InvalidRequest", ReasonInvalidRequest
	case FaultFailedAuthentication:
		return true, "FailedAuthentication", ReasonFailedAuthentication
	}
	return false, "RequestFailed", ReasonRequestFailed
}

// BuildFault returns the SOAP fault for kind, in SOAP version s, with the
// subcode bound to version v's trust namespace (as AD FS does:
// s:Subcode/s:Value "a:FailedAuthentication" with a local xmlns:a), the
// reason in xml:lang en-US, and RelatesTo when relatesTo is set. Send it
// with HTTP 500 (MSAL Go reads faults only then).
func BuildFault(s SOAPVersion, v Version, kind FaultKind, relatesTo string) []byte {
	sender, subcode, reason := kind.parts()
	env, _, body := envelope(s, ActionFault, relatesTo)
	env.RemoveAttr("xmlns:u")
	f := body.CreateElement("s:Fault")
	if s == SOAP11 {
		code := f.CreateElement("faultcode")
		if sender {
			code.CreateAttr("xmlns:a", v.trustNS())
			code.SetText("a:" + subcode)
		} else {
			code.SetText("s:Server")
		}
		str := f.CreateElement("faultstring")
		str.CreateAttr("xml:lang", "en-US")
		str.SetText(reason)
	} else {
		code := f.CreateElement("s:Code")
		if sender {
			code.CreateElement("s:Value").SetText("s:Sender")
		} else {
			code.CreateElement("s:Value").SetText("s:Receiver")
		}
		sv := code.CreateElement("s:Subcode").CreateElement("s:Value")
		sv.CreateAttr("xmlns:a", v.trustNS())
		sv.SetText("a:" + subcode)
		text := f.CreateElement("s:Reason").CreateElement("s:Text")
		text.CreateAttr("xml:lang", "en-US")
		text.SetText(reason)
	}
	out, err := assertion.Marshal(env, false)
	if err != nil {
		// Only fixed text goes into a fault; marshalling it cannot fail.
		panic("wstrust: marshal fault: " + err.Error())
	}
	return out
}
