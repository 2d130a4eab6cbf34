package wstrust

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/beevik/etree"
)

// Paths of the WS-Trust endpoints.
const (
	PathUsernameMixed13   = "/wstrust/13/usernamemixed"
	PathUsernameMixed2005 = "/wstrust/2005/usernamemixed"
	PathMEX               = "/wstrust/mex"
)

// MEX namespaces (WSTRUST.md section 1).
const (
	NSWSDL        = "http://schemas.xmlsoap.org/wsdl/"
	NSSOAP12WSDL  = "http://schemas.xmlsoap.org/wsdl/soap12/"
	NSSP13        = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"
	NSSP2005      = "http://schemas.xmlsoap.org/ws/2005/07/securitypolicy"
	NSWSAW        = "http://www.w3.org/2006/05/addressing/wsdl"
	NSMEXTarget   = "http://schemas.microsoft.com/ws/2008/06/identity/securitytokenservice"
	SOAPTransport = "http://schemas.xmlsoap.org/soap/http"
)

// MEXConfig names the public URLs of the usernamemixed endpoints.
type MEXConfig struct {
	// UsernameMixed13 and UsernameMixed2005 are absolute https URLs
	// (MSAL Python and Java skip any other; http only towards loopback,
	// for tests).
	UsernameMixed13   string
	UsernameMixed2005 string
}

// Binding (and port) names, AD FS's.
const (
	binding13   = "UserNameWSTrustBinding_IWSTrust13Async"
	binding2005 = "UserNameWSTrustBinding_IWSTrustFeb2005Async"
)

// BuildMEX returns the WS-MetadataExchange document (a WSDL) every MSAL
// parser accepts: root wsdl:definitions; one policy per binding with a
// wsu:Id and its own xmlns:sp on each security-policy element; the 1.3
// binding (SignedEncryptedSupportingTokens, 200702) and the 2005 one
// (SignedSupportingTokens, 2005/07), SOAP 1.2 only; one wsdl:service whose
// first port is usernamemixed 1.3 (MSAL Go takes the first 1.3 port), each
// port with tns:-prefixed binding and a wsa10:EndpointReference address.
// No DTD. Windows-integrated endpoints are not published: Gatehouse does
// not offer them.
func BuildMEX(c MEXConfig) ([]byte, error) {
	for _, u := range []string{c.UsernameMixed13, c.UsernameMixed2005} {
		if err := checkEndpointURL(u); err != nil {
			return nil, err
		}
	}
	d := etree.NewElement("wsdl:definitions")
	for _, a := range [][2]string{
		{"name", "SecurityTokenService"}, {"targetNamespace", NSMEXTarget},
		{"xmlns:wsdl", NSWSDL}, {"xmlns:tns", NSMEXTarget}, {"xmlns:soap12", NSSOAP12WSDL},
		{"xmlns:wsa10", NSAddressing}, {"xmlns:wsp", NSPolicy}, {"xmlns:wsu", NSWSU},
		{"xmlns:wsaw", NSWSAW}, {"xmlns:trust", NSTrust13}, {"xmlns:t", NSTrust2005},
	} {
		d.CreateAttr(a[0], a[1])
	}
	policy(d, binding13+"_policy", NSSP13, "SignedEncryptedSupportingTokens", "")
	policy(d, binding2005+"_policy", NSSP2005, "SignedSupportingTokens", "false")

	message(d, "IWSTrust13Async_Trust13IssueAsync_InputMessage", "request", "trust:RequestSecurityToken")
	message(d, "IWSTrust13Async_Trust13IssueAsync_OutputMessage", "Trust13IssueAsyncResult", "trust:RequestSecurityTokenResponseCollection")
	message(d, "IWSTrustFeb2005Async_TrustFeb2005IssueAsync_InputMessage", "request", "t:RequestSecurityToken")
	message(d, "IWSTrustFeb2005Async_TrustFeb2005IssueAsync_OutputMessage", "TrustFeb2005IssueAsyncResult", "t:RequestSecurityTokenResponse")
	portType(d, "IWSTrust13Async", "Trust13IssueAsync", ActionIssue13, ActionResponse13, "IWSTrust13Async_Trust13IssueAsync")
	portType(d, "IWSTrustFeb2005Async", "TrustFeb2005IssueAsync", ActionIssue2005, ActionResponse2005, "IWSTrustFeb2005Async_TrustFeb2005IssueAsync")
	binding(d, binding13, "IWSTrust13Async", "Trust13IssueAsync", ActionIssue13)
	binding(d, binding2005, "IWSTrustFeb2005Async", "TrustFeb2005IssueAsync", ActionIssue2005)

	svc := d.CreateElement("wsdl:service")
	svc.CreateAttr("name", "SecurityTokenService")
	port(svc, binding13, c.UsernameMixed13)
	port(svc, binding2005, c.UsernameMixed2005)

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	doc.AddChild(d)
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	doc.Indent(2)
	var buf bytes.Buffer
	if _, err := doc.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("wstrust: marshal MEX: %w", err)
	}
	return buf.Bytes(), nil
}

func checkEndpointURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("wstrust: MEX endpoint %q is not an absolute URL", s)
	}
	h := u.Hostname()
	loopback := h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.")
	if u.Scheme == "https" || (u.Scheme == "http" && loopback) {
		return nil
	}
	return fmt.Errorf("wstrust: MEX endpoint %q must use https: MSAL skips any other", s)
}

// sp creates a security-policy element with its own xmlns:sp, as AD FS
// writes them (MSAL Go keeps a policy only when TransportBinding carries
// that declaration).
func sp(parent *etree.Element, ns, tag string) *etree.Element {
	e := parent.CreateElement("sp:" + tag)
	e.CreateAttr("xmlns:sp", ns)
	return e
}

func nested(parent *etree.Element, tag string, inner ...string) {
	p := parent.CreateElement("sp:" + tag).CreateElement("wsp:Policy")
	for _, i := range inner {
		p.CreateElement("sp:" + i)
	}
}

func policy(d *etree.Element, id, ns, supporting, requireClientCert string) {
	p := d.CreateElement("wsp:Policy")
	p.CreateAttr("wsu:Id", id)
	all := p.CreateElement("wsp:ExactlyOne").CreateElement("wsp:All")
	tb := sp(all, ns, "TransportBinding").CreateElement("wsp:Policy")
	tt := tb.CreateElement("sp:TransportToken").CreateElement("wsp:Policy").CreateElement("sp:HttpsToken")
	if requireClientCert != "" {
		tt.CreateAttr("RequireClientCertificate", requireClientCert)
	}
	nested(tb, "AlgorithmSuite", "Basic256")
	nested(tb, "Layout", "Strict")
	tb.CreateElement("sp:IncludeTimestamp")
	ut := sp(all, ns, supporting).CreateElement("wsp:Policy").CreateElement("sp:UsernameToken")
	ut.CreateAttr("sp:IncludeToken", ns+"/IncludeToken/AlwaysToRecipient")
	ut.CreateElement("wsp:Policy").CreateElement("sp:WssUsernameToken10")
	all.CreateElement("wsaw:UsingAddressing")
}

func message(d *etree.Element, name, part, element string) {
	m := d.CreateElement("wsdl:message")
	m.CreateAttr("name", name)
	p := m.CreateElement("wsdl:part")
	p.CreateAttr("name", part)
	p.CreateAttr("element", element)
}

func portType(d *etree.Element, name, op, in, out, msg string) {
	pt := d.CreateElement("wsdl:portType")
	pt.CreateAttr("name", name)
	o := pt.CreateElement("wsdl:operation")
	o.CreateAttr("name", op)
	i := o.CreateElement("wsdl:input")
	i.CreateAttr("wsaw:Action", in)
	i.CreateAttr("message", "tns:"+msg+"_InputMessage")
	w := o.CreateElement("wsdl:output")
	w.CreateAttr("wsaw:Action", out)
	w.CreateAttr("message", "tns:"+msg+"_OutputMessage")
}

func binding(d *etree.Element, name, typ, op, action string) {
	b := d.CreateElement("wsdl:binding")
	b.CreateAttr("name", name)
	b.CreateAttr("type", "tns:"+typ)
	b.CreateElement("wsp:PolicyReference").CreateAttr("URI", "#"+name+"_policy")
	b.CreateElement("soap12:binding").CreateAttr("transport", SOAPTransport)
	o := b.CreateElement("wsdl:operation")
	o.CreateAttr("name", op)
	so := o.CreateElement("soap12:operation")
	so.CreateAttr("soapAction", action)
	so.CreateAttr("style", "document")
	o.CreateElement("wsdl:input").CreateElement("soap12:body").CreateAttr("use", "literal")
	o.CreateElement("wsdl:output").CreateElement("soap12:body").CreateAttr("use", "literal")
}

func port(svc *etree.Element, name, address string) {
	p := svc.CreateElement("wsdl:port")
	p.CreateAttr("name", name)
	p.CreateAttr("binding", "tns:"+name)
	p.CreateElement("soap12:address").CreateAttr("location", address)
	p.CreateElement("wsa10:EndpointReference").CreateElement("wsa10:Address").SetText(address)
}

// MEXHandler serves the MEX document to a plain GET (as MSAL and Windows
// fetch it): 200, text/xml, never a redirect.
func MEXHandler(c MEXConfig) (http.Handler, error) {
	doc, err := BuildMEX(c)
	if err != nil {
		return nil, err
	}
	if len(doc) == 0 {
		return nil, errors.New("wstrust: empty MEX")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(doc)
		}
	}), nil
}
