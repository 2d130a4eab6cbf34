package wstrust

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

var testMEX = MEXConfig{UsernameMixed13: endpoint13, UsernameMixed2005: endpoint2005}

// TestTheMEXFollowsEveryRuleTheMSALParsersNeed checks WSTRUST.md section 1
// rule by rule, the way each library reads the document.
func TestTheMEXFollowsEveryRuleTheMSALParsersNeed(t *testing.T) {
	raw, err := BuildMEX(testMEX)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "mex", raw)
	if bytes.Contains(raw, []byte("<!")) {
		t.Error("no DTD (Windows: WC_E_DTDPROHIBITED)")
	}
	root := parse(t, raw)
	if root.FullTag() != "wsdl:definitions" || root.NamespaceURI() != NSWSDL {
		t.Fatalf("root %s", root.FullTag())
	}
	// Policies: direct children, wsu:Id with that literal prefix, one wsp:All.
	policies := map[string]*etree.Element{}
	for _, p := range root.SelectElements("Policy") {
		id := p.SelectAttrValue("wsu:Id", "")
		if id == "" || p.SelectAttr("wsu:Id").NamespaceURI() != NSWSU {
			t.Errorf("policy without wsu:Id")
		}
		if _, dup := policies["#"+id]; dup {
			t.Errorf("duplicate policy id %s", id)
		}
		policies["#"+id] = p
		if n := len(p.FindElements("wsp:ExactlyOne/wsp:All")); n != 1 {
			t.Errorf("policy %s has %d wsp:All", id, n)
		}
		all := one(t, p, "wsp:ExactlyOne/wsp:All")
		tb := one(t, all, "sp:TransportBinding")
		if tb.SelectAttrValue("xmlns:sp", "") == "" {
			t.Errorf("policy %s: sp:TransportBinding must declare xmlns:sp itself (MSAL Go)", id)
		}
	}
	p13 := policies["#UserNameWSTrustBinding_IWSTrust13Async_policy"]
	p2005 := policies["#UserNameWSTrustBinding_IWSTrustFeb2005Async_policy"]
	if p13 == nil || p2005 == nil || len(policies) != 2 {
		t.Fatalf("policies %v", policies)
	}
	check := func(p *etree.Element, path, ns string) {
		t.Helper()
		e := p.FindElement("wsp:ExactlyOne/wsp:All/" + path)
		if e == nil || e.NamespaceURI() != ns {
			t.Errorf("%s missing or not in %s", path, ns)
		}
	}
	check(p13, "sp:SignedEncryptedSupportingTokens/wsp:Policy/sp:UsernameToken/wsp:Policy/sp:WssUsernameToken10", NSSP13)
	check(p13, "sp:TransportBinding", NSSP13)
	check(p2005, "sp:SignedSupportingTokens/wsp:Policy/sp:UsernameToken/wsp:Policy/sp:WssUsernameToken10", NSSP2005)
	check(p2005, "sp:TransportBinding", NSSP2005)

	// Bindings: each its own policy, SOAP 1.2 over HTTP, the exact soapAction.
	bindings := map[string]string{}
	used := map[string]bool{}
	for _, b := range root.SelectElements("binding") {
		name := b.SelectAttrValue("name", "")
		if _, dup := bindings[name]; dup {
			t.Errorf("duplicate binding %s", name)
		}
		ref := one(t, b, "wsp:PolicyReference").SelectAttrValue("URI", "")
		if policies[ref] == nil || used[ref] {
			t.Errorf("binding %s: policy %q missing or shared", name, ref)
		}
		used[ref] = true
		if one(t, b, "soap12:binding").SelectAttrValue("transport", "") != SOAPTransport {
			t.Errorf("binding %s: transport", name)
		}
		bindings[name] = one(t, b, "wsdl:operation/soap12:operation").SelectAttrValue("soapAction", "")
	}
	if bindings["UserNameWSTrustBinding_IWSTrust13Async"] != ActionIssue13 || bindings["UserNameWSTrustBinding_IWSTrustFeb2005Async"] != ActionIssue2005 || len(bindings) != 2 {
		t.Errorf("bindings %v", bindings)
	}
	if n := len(root.FindElements("//soap:binding")) + len(root.FindElements("//soap:operation")); n != 0 {
		t.Error("no SOAP 1.1 bindings (MSAL Python fails on them)")
	}
	// One service; ports with tns: bindings and wsa10 addresses; 1.3 first.
	svcs := root.SelectElements("service")
	if len(svcs) != 1 {
		t.Fatalf("%d wsdl:service, want exactly one", len(svcs))
	}
	var got []string
	for _, p := range svcs[0].SelectElements("port") {
		b := p.SelectAttrValue("binding", "")
		if !strings.HasPrefix(b, "tns:") || bindings[strings.TrimPrefix(b, "tns:")] == "" {
			t.Errorf("port binding %q needs the tns: prefix and a known binding", b)
		}
		addr := one(t, p, "wsa10:EndpointReference/wsa10:Address")
		if addr.NamespaceURI() != NSAddressing || one(t, p, "soap12:address").SelectAttrValue("location", "") != addr.Text() {
			t.Errorf("port %s: address", b)
		}
		got = append(got, bindings[strings.TrimPrefix(b, "tns:")]+" "+addr.Text())
	}
	if strings.Join(got, "\n") != ActionIssue13+" "+endpoint13+"\n"+ActionIssue2005+" "+endpoint2005 {
		t.Errorf("ports (the usernamemixed 1.3 one must be first):\n%s", strings.Join(got, "\n"))
	}
}

func TestTheMEXIsServedToAPlainGET(t *testing.T) {
	h, err := MEXHandler(testMEX)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathMEX, nil))
	want, _ := BuildMEX(testMEX)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/xml; charset=utf-8" || !bytes.Equal(rec.Body.Bytes(), want) {
		t.Errorf("GET: %d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, PathMEX, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", rec.Code)
	}
	for _, c := range []MEXConfig{
		{UsernameMixed13: "http://sso.corp.example.com/wstrust/13/usernamemixed", UsernameMixed2005: endpoint2005},
		{UsernameMixed13: endpoint13},
		{UsernameMixed13: "/wstrust/13/usernamemixed", UsernameMixed2005: endpoint2005},
	} {
		if _, err := BuildMEX(c); err == nil {
			t.Errorf("BuildMEX(%+v) accepted a URL MSAL would skip", c)
		}
	}
}
