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

// XMLSec1Sign signs doc, which holds a signature template (see
// SignatureTemplate), with xmlsec1 and the fixed test key name ("current",
// "next" or "other"), and returns the signed document: a signature made by
// a tool independent of Gatehouse and goxmldsig.
func XMLSec1Sign(tb testing.TB, doc []byte, name string, id IDAttr) []byte {
	tb.Helper()
	bin := testenv.LookPath(tb, "xmlsec1", "scripts/testenv/install.sh (Debian package xmlsec1)")
	dir := tb.TempDir()
	in, out := filepath.Join(dir, "template.xml"), filepath.Join(dir, "signed.xml")
	if err := os.WriteFile(in, doc, 0o600); err != nil {
		tb.Fatal(err)
	}
	key := filepath.Join(Dir(), "testdata", name+".key")
	cert := filepath.Join(Dir(), "testdata", name+".crt")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--sign", // #nosec G204 -- test tool, fixed arguments.
		"--id-attr:"+id.Attr, id.NodeNS+":"+id.NodeTag,
		"--privkey-pem", key+","+cert,
		"--output", out,
		in)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("xmlsec1 --sign: %v\n%s", err, msg)
	}
	signed, err := os.ReadFile(out) // #nosec G304 -- the test's own temporary file.
	if err != nil {
		tb.Fatal(err)
	}
	return signed
}
