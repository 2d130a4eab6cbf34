package validators

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// The ID attributes of a SAML 2.0 Response and of the assertion inside it.
var (
	SAML2Response  = IDAttr{"ID", "urn:oasis:names:tc:SAML:2.0:protocol", "Response"}
	SAML2Assertion = IDAttr{"ID", "urn:oasis:names:tc:SAML:2.0:assertion", "Assertion"}
)

// FixedKeyPEM returns the PEM files of one of the fixed test key pairs
// (see FixedKey): an SP's decryption key and certificate in the tests.
func FixedKeyPEM(tb testing.TB, name string) (keyPEM, certPEM []byte) {
	tb.Helper()
	dir := filepath.Join(Dir(), "testdata")
	keyPEM, err := os.ReadFile(filepath.Join(dir, name+".key")) // #nosec G304 -- fixed test file.
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, err = os.ReadFile(filepath.Join(dir, name+".crt")) // #nosec G304 -- fixed test file.
	if err != nil {
		tb.Fatal(err)
	}
	return keyPEM, certPEM
}

// XMLSec1At is XMLSec1 for documents with more than one signature: it
// verifies the signature at the XPath node (empty: the first one in the
// document), with every ID attribute in ids registered, so a Response's
// and its assertion's signatures can each be checked.
func XMLSec1At(tb testing.TB, doc, certPEM []byte, node string, ids ...IDAttr) error {
	tb.Helper()
	args := []string{"--verify"}
	for _, id := range ids {
		args = append(args, "--id-attr:"+id.Attr, id.NodeNS+":"+id.NodeTag)
	}
	if node != "" {
		args = append(args, "--node-xpath", node)
	}
	args = append(args, "--enabled-key-data", "rsa", "--pubkey-cert-pem")
	out, err := runXMLSec1(tb, doc, certPEM, args)
	if err == nil && !bytes.Contains(out, []byte("OK")) {
		tb.Fatalf("xmlsec1 exited 0 without saying OK:\n%s", out)
	}
	return err
}

// XMLSec1Decrypt decrypts the first xenc:EncryptedData in doc with
// xmlsec1 and the RSA private key in keyPEM (the key transport and the
// content algorithm are read from the document), returning the document
// with the plaintext in its place, or an error wrapping ErrRejected.
func XMLSec1Decrypt(tb testing.TB, doc, keyPEM []byte) ([]byte, error) {
	tb.Helper()
	return runXMLSec1(tb, doc, keyPEM, []string{"--decrypt", "--privkey-pem"})
}

// runXMLSec1 runs xmlsec1 with args, then the key file (made from key),
// then the document file.
func runXMLSec1(tb testing.TB, doc, key []byte, args []string) ([]byte, error) {
	tb.Helper()
	bin := testenv.LookPath(tb, "xmlsec1", "scripts/testenv/install.sh (Debian package xmlsec1)")
	// Not tb.TempDir: a subtest's name may hold a comma, which xmlsec1
	// reads as the end of a key file name.
	dir, err := os.MkdirTemp("", "xmlsec1-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	docFile, keyFile := filepath.Join(dir, "doc.xml"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(docFile, doc, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append(args, keyFile, docFile)...) // #nosec G204 -- test tool, fixed arguments.
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if err == nil {
		// --verify reports on stderr, --decrypt writes the result to stdout.
		return append(stdout.Bytes(), stderr.Bytes()...), nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		tb.Fatalf("xmlsec1 did not run: %v\n%s", err, stderr.String())
	}
	return nil, fmt.Errorf("xmlsec1: %w: %s", ErrRejected, strings.TrimSpace(stderr.String()))
}

// NodeSAMLInput is the service provider node-saml plays, and the
// Responses it is handed.
type NodeSAMLInput struct {
	// CertPEM is the trusted IdP signing certificate.
	CertPEM string `json:"cert"`
	// Now is the clock the library checks the validity windows with.
	Now time.Time `json:"now"`
	// EntityID is the SP's entity ID, Audience the audience it expects
	// (normally the same) and ACS its callback URL.
	EntityID string `json:"entityID"`
	Audience string `json:"audience"`
	ACS      string `json:"acs"`
	// WantAssertionsSigned and WantResponseSigned are the library's
	// options of the same names: what it refuses unsigned.
	WantAssertionsSigned bool `json:"wantAssertionsSigned"`
	WantResponseSigned   bool `json:"wantResponseSigned"`
	// DecryptionKeyPEM decrypts EncryptedAssertions; empty: none.
	DecryptionKeyPEM string `json:"decryptionKey,omitempty"`
	// RequestID, when set, is the AuthnRequest the SP sent: InResponseTo
	// must name it (validateInResponseTo "always").
	RequestID string         `json:"requestID,omitempty"`
	Cases     []NodeSAMLCase `json:"cases"`
}

// NodeSAMLCase is one Response, base64-encoded as the SAMLResponse form
// field carries it.
type NodeSAMLCase struct {
	Name         string `json:"name"`
	SAMLResponse string `json:"samlResponse"`
}

// NodeSAMLResult is the library's verdict on one case: the profile it
// read (nameID, nameIDFormat, spNameQualifier, sessionIndex, inResponseTo,
// issuer, attributes, …) and the assertion it read it from (decrypted when
// it was encrypted).
type NodeSAMLResult struct {
	Name      string         `json:"name"`
	Valid     bool           `json:"valid"`
	Error     string         `json:"error,omitempty"`
	Profile   map[string]any `json:"profile,omitempty"`
	Assertion string         `json:"assertion,omitempty"`
}

// NodeSAML runs saml2.js (@node-saml/node-saml's validatePostResponseAsync)
// on the cases and returns one result per case, in order. The npm
// dependencies are installed first when missing.
func NodeSAML(tb testing.TB, in NodeSAMLInput) []NodeSAMLResult {
	tb.Helper()
	EnsureNodeModules(tb, Dir(), "@node-saml/node-saml")
	var res []NodeSAMLResult
	runNode(tb, "saml2.js", in, &res)
	if len(res) != len(in.Cases) {
		tb.Fatalf("saml2.js answered %d cases, asked %d", len(res), len(in.Cases))
	}
	return res
}
