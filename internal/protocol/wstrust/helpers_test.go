package wstrust

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// The shared XML test helpers, under the names these tests use.
var (
	parse = xmltest.Parse
	one   = xmltest.One
)

func golden(t *testing.T, name string, got []byte) { t.Helper(); xmltest.Golden(t, *update, name, got) }

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	endpoint13   = "https://sso.corp.example.com/wstrust/13/usernamemixed"
	endpoint2005 = "https://sso.corp.example.com/wstrust/2005/usernamemixed"
	alicePass    = "Al1ce!Passw0rd<&>"
)

func pemCert(kp *keys.KeyPair) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Cert.Raw})
}

// rst is a RequestSecurityToken as the MSAL libraries write them.
type rst struct {
	soap11                  bool
	version                 Version
	action                  string // "" for none
	messageIDTag, messageID string
	to                      string
	timestampID             string
	created, expires        string // "" for no timestamp
	username, password      string
	passwordType            string
	appliesTo               string
	keyType, requestType    string
	tokenType               string
	extraHeader             string
}

func msalNET13() rst {
	return rst{version: Trust13, action: ActionIssue13, messageIDTag: "a:MessageID", messageID: "urn:uuid:6cbd3a3c-5b1b-4f5d-9f3a-6a0f0b1e2c3d",
		to: endpoint13, timestampID: "MSATimeStamp", created: "2026-03-01T10:00:00.068Z", expires: "2026-03-01T10:10:00.068Z",
		username: "alice@corp.example.com", password: alicePass, appliesTo: wsfed.EntraRealm,
		keyType: KeyTypeBearer13, requestType: RequestTypeIssue13}
}

func msalNET2005() rst {
	r := msalNET13()
	r.version, r.action, r.to = Trust2005, ActionIssue2005, endpoint2005
	r.keyType, r.requestType = KeyTypeNoProofKey, RequestTypeIssue05
	return r
}

func (r rst) xml() []byte {
	env := NSSOAP12
	if r.soap11 {
		env = NSSOAP11
	}
	trust := NSTrust13
	if r.version == Trust2005 {
		trust = NSTrust2005
	}
	esc := func(s string) string {
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<s:Envelope xmlns:s='%s' xmlns:a='http://www.w3.org/2005/08/addressing' xmlns:u='%s'><s:Header>`, env, NSWSU)
	if r.action != "" {
		fmt.Fprintf(&b, `<a:Action s:mustUnderstand='1'>%s</a:Action>`, r.action)
	}
	if r.messageIDTag != "" {
		fmt.Fprintf(&b, `<%s>%s</%s>`, r.messageIDTag, r.messageID, r.messageIDTag)
	}
	b.WriteString(`<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>`)
	if r.to != "" {
		fmt.Fprintf(&b, `<a:To s:mustUnderstand='1'>%s</a:To>`, r.to)
	}
	b.WriteString(r.extraHeader)
	fmt.Fprintf(&b, `<o:Security s:mustUnderstand='1' xmlns:o='%s'>`, NSWSSE)
	if r.created != "" {
		fmt.Fprintf(&b, `<u:Timestamp u:Id='%s'><u:Created>%s</u:Created><u:Expires>%s</u:Expires></u:Timestamp>`, r.timestampID, r.created, r.expires)
	}
	pt := ""
	if r.passwordType != "" {
		pt = ` Type='` + r.passwordType + `'`
	}
	fmt.Fprintf(&b, `<o:UsernameToken u:Id='UnPwSecTok13-0b1c'><o:Username>%s</o:Username><o:Password%s>%s</o:Password></o:UsernameToken></o:Security></s:Header>`,
		esc(r.username), pt, esc(r.password))
	fmt.Fprintf(&b, `<s:Body><trust:RequestSecurityToken xmlns:trust='%s'>`, trust)
	if r.appliesTo != "" {
		fmt.Fprintf(&b, `<wsp:AppliesTo xmlns:wsp='http://schemas.xmlsoap.org/ws/2004/09/policy'><a:EndpointReference><a:Address>%s</a:Address></a:EndpointReference></wsp:AppliesTo>`, r.appliesTo)
	}
	if r.keyType != "" {
		fmt.Fprintf(&b, `<trust:KeyType>%s</trust:KeyType>`, r.keyType)
	}
	if r.tokenType != "" {
		fmt.Fprintf(&b, `<trust:TokenType>%s</trust:TokenType>`, r.tokenType)
	}
	if r.requestType != "" {
		fmt.Fprintf(&b, `<trust:RequestType>%s</trust:RequestType>`, r.requestType)
	}
	b.WriteString(`</trust:RequestSecurityToken></s:Body></s:Envelope>`)
	return []byte(b.String())
}

func opts(v Version) ParseOptions {
	e := endpoint13
	if v == Trust2005 {
		e = endpoint2005
	}
	return ParseOptions{Version: v, Endpoint: e, Now: t0}
}

// fixture issues Entra assertions with the fixed key and clock.
type fixture struct {
	kp  *keys.KeyPair
	b   *assertion.Builder
	reg *wsfed.Registry
}

func newFixture(t testing.TB, kp *keys.KeyPair, now time.Time) *fixture {
	t.Helper()
	n := 0
	b, err := assertion.NewBuilder(assertion.Options{Key: kp, Now: func() time.Time { return now },
		NewID: func() string { n++; return fmt.Sprintf("_00000000-0000-4000-8000-%012d", n) }})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := wsfed.NewRegistry(wsfed.RelyingParty{Name: "Microsoft 365", Realm: wsfed.EntraRealm,
		ReplyURLs: []string{wsfed.EntraReplyURL}, Domains: []wsfed.Domain{
			{Name: "corp.example.com", IssuerURI: wsfed.DomainIssuer("https://sso.corp.example.com", "corp.example.com")}}})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{kp: kp, b: b, reg: reg}
}

// issue is the IssueFunc the wiring will write: relying party by
// AppliesTo, password-only claims.
func (f *fixture) issue(_ context.Context, req *Request, u *directory.User) (*assertion.Assertion, error) {
	rp, ok := f.reg.ByRealm(req.AppliesTo)
	if !ok {
		return nil, fmt.Errorf("%w: unknown AppliesTo", ErrInvalidRequest)
	}
	c := assertion.ClaimsPolicy{}.Claims(u, assertion.SignIn{AuthInstant: t0, AMR: []string{"pwd"}}, t0)
	return wsfed.IssueAssertion(context.Background(), f.b, rp, c)
}

var alice = &directory.User{UPN: "alice@corp.example.com", ImmutableID: "8bJ5sEt4uUWZ2wOyxGXQqA==", SAMAccountName: "alice"}

// fakeDirectory knows alice; other users get err.
type fakeDirectory struct {
	err   error
	calls int
}

func (d *fakeDirectory) Authenticate(_ context.Context, login, password string) (*directory.User, error) {
	d.calls++
	if d.err != nil {
		return nil, d.err
	}
	if login == alice.UPN && password == alicePass {
		return alice, nil
	}
	return nil, fmt.Errorf("bind: %w", directory.ErrInvalidCredentials)
}
