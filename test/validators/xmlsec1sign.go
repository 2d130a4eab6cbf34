package validators

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// The ID attributes of the SAML 2.0 messages a service provider signs.
var (
	SAML2AuthnRequest   = IDAttr{"ID", "urn:oasis:names:tc:SAML:2.0:protocol", "AuthnRequest"}
	SAML2LogoutRequest  = IDAttr{"ID", "urn:oasis:names:tc:SAML:2.0:protocol", "LogoutRequest"}
	SAML2LogoutResponse = IDAttr{"ID", "urn:oasis:names:tc:SAML:2.0:protocol", "LogoutResponse"}
)

// SignatureTemplate returns an empty enveloped ds:Signature for xmlsec1
// to fill in: sigAlg and digestAlg are the algorithm URIs, ref the
// Reference's URI ("#id"), exclusive C14N, and an X509Data for the
// signer's certificate.
func SignatureTemplate(sigAlg, digestAlg, ref string) string {
	return `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>` +
		`<ds:SignatureMethod Algorithm="` + sigAlg + `"/>` +
		`<ds:Reference URI="` + ref + `"><ds:Transforms>` +
		`<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>` +
		`<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>` +
		`</ds:Transforms><ds:DigestMethod Algorithm="` + digestAlg + `"/><ds:DigestValue/></ds:Reference>` +
		`</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>`
}

// XMLSec1Sign signs template with xmlsec1, as an independent service
// provider would sign the messages it sends Gatehouse. template holds an
// XML-DSig signature template (a ds:Signature with the algorithms, the
// reference and an empty DigestValue and SignatureValue; KeyInfo children
// such as X509Certificate or X509SKI are filled in from certPEM). It
// returns the signed document and fails the test when xmlsec1 does.
func XMLSec1Sign(tb testing.TB, template, keyPEM, certPEM []byte, id IDAttr) []byte {
	tb.Helper()
	bin := testenv.LookPath(tb, "xmlsec1", "scripts/testenv/install.sh (Debian package xmlsec1)")
	dir := tb.TempDir()
	in, out := filepath.Join(dir, "template.xml"), filepath.Join(dir, "signed.xml")
	keyFile, certFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	for name, data := range map[string][]byte{in: template, keyFile: keyPEM, certFile: certPEM} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--sign", // #nosec G204 -- test tool, fixed arguments.
		"--id-attr:"+id.Attr, id.NodeNS+":"+id.NodeTag,
		"--privkey-pem", keyFile+","+certFile,
		"--output", out, in)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("xmlsec1 --sign: %v\n%s", err, msg)
	}
	signed, err := os.ReadFile(out) // #nosec G304 -- our own temporary file.
	if err != nil {
		tb.Fatal(err)
	}
	return signed
}
