package validators

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// Dir returns the absolute path of this folder (test/validators).
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("validators: cannot find own source file")
	}
	return filepath.Dir(file)
}

// FixedKey returns one of the fixed test key pairs: "current", "next" or
// "other" (a key nobody trusts, for re-signing tests).
func FixedKey(tb testing.TB, name string) *keys.KeyPair {
	tb.Helper()
	dir := filepath.Join(Dir(), "testdata")
	keyPEM, err := os.ReadFile(filepath.Join(dir, name+".key")) // #nosec G304 -- fixed test file.
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, name+".crt")) // #nosec G304 -- fixed test file.
	if err != nil {
		tb.Fatal(err)
	}
	kp, err := keys.Parse(keyPEM, certPEM, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		tb.Fatalf("fixed test key %s: %v", name, err)
	}
	return kp
}

// IDAttr names the attribute an XML-DSig reference (URI="#id") points at
// and the element that carries it, in xmlsec1's --id-attr syntax.
type IDAttr struct {
	Attr    string // AssertionID
	NodeNS  string // urn:oasis:names:tc:SAML:1.0:assertion
	NodeTag string // Assertion
}

// The ID attributes of the documents Gatehouse signs.
var (
	SAML11Assertion = IDAttr{"AssertionID", "urn:oasis:names:tc:SAML:1.0:assertion", "Assertion"}
	SAML2Metadata   = IDAttr{"ID", "urn:oasis:names:tc:SAML:2.0:metadata", "EntityDescriptor"}
)

// ErrRejected wraps every "the validator said no" answer, so tests can tell
// a rejection from a broken validator run.
var ErrRejected = errors.New("rejected")

// XMLSec1 verifies the first signature in doc with xmlsec1, trusting only
// the RSA key of cert (the KeyInfo in the document is ignored:
// --enabled-key-data rsa). It returns nil when the signature verifies and an
// error wrapping ErrRejected, with xmlsec1's output, when it does not.
func XMLSec1(tb testing.TB, doc []byte, certPEM []byte, id IDAttr) error {
	tb.Helper()
	return XMLSec1At(tb, doc, certPEM, "", id)
}

// PassportCase is one document for passport-wsfed-saml2: either the wresult
// of the auto-POSTed form or a bare assertion.
type PassportCase struct {
	Name      string `json:"name"`
	WResult   string `json:"wresult,omitempty"`
	Assertion string `json:"assertion,omitempty"`
}

// PassportResult is the library's verdict on one case.
type PassportResult struct {
	Name    string         `json:"name"`
	Valid   bool           `json:"valid"`
	Error   string         `json:"error,omitempty"`
	Issuer  string         `json:"issuer,omitempty"`
	Profile map[string]any `json:"profile,omitempty"`
}

// PassportInput is what every case is checked against.
type PassportInput struct {
	// CertBase64 is the trusted certificate as bare base64 DER.
	CertBase64 string `json:"cert"`
	// Realm is the expected audience.
	Realm string `json:"realm"`
	// Now is the clock the library checks NotBefore/NotOnOrAfter with.
	Now   time.Time      `json:"now"`
	Cases []PassportCase `json:"cases"`
}

// Passport runs validate.js on the cases and returns one result per case,
// in order. The npm dependencies are installed first when missing.
func Passport(tb testing.TB, in PassportInput) []PassportResult {
	tb.Helper()
	ensureNodeModules(tb)
	var res []PassportResult
	runNode(tb, "validate.js", in, &res)
	if len(res) != len(in.Cases) {
		tb.Fatalf("validate.js answered %d cases, asked %d", len(res), len(in.Cases))
	}
	return res
}

// runNode runs script (in this folder) with in as JSON on stdin and reads
// the JSON it prints into out, failing the test when it does not run or
// prints no JSON.
func runNode(tb testing.TB, script string, in, out any) {
	tb.Helper()
	node := testenv.LookPath(tb, "node", "the nodejs package")
	data, err := json.Marshal(in)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(Dir(), script)) // #nosec G204 -- fixed test script.
	cmd.Dir = Dir()
	cmd.Stdin = bytes.NewReader(data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		tb.Fatalf("%s printed no JSON answer: %v\n%s\n%s", script, err, stdout.String(), stderr.String())
	}
}

// ensureNodeModules installs this folder's npm dependencies when missing.
func ensureNodeModules(tb testing.TB) {
	tb.Helper()
	EnsureNodeModules(tb, Dir(), "passport-wsfed-saml2")
}

// EnsureNodeModules runs `npm ci --ignore-scripts` in dir (a folder with a
// package.json and a committed package-lock.json) when node_modules lacks
// pkg or is older than package-lock.json. Test binaries of several
// packages run at once, so a file lock makes one of them install while the
// others wait. Without npm, or when npm ci fails, the test is skipped
// locally and fails under CI (testenv.Unavailable).
func EnsureNodeModules(tb testing.TB, dir, pkg string) {
	tb.Helper()
	if installed(dir, pkg) {
		return
	}
	npm := testenv.LookPath(tb, "npm", "the nodejs package")
	unlock, err := lockFile(filepath.Join(dir, ".install.lock"))
	if err != nil {
		tb.Fatalf("lock %s: %v", dir, err)
	}
	defer unlock()
	if installed(dir, pkg) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts") // #nosec G204 -- fixed arguments.
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		testenv.Unavailable(tb, fmt.Sprintf("npm ci in %s failed (%v): %s", dir, err, lastLine(out)))
	}
	if !installed(dir, pkg) {
		tb.Fatalf("npm ci in %s succeeded but %s is not installed:\n%s", dir, pkg, out)
	}
}

// installed reports whether node_modules holds pkg and is at least as new
// as the lock file.
func installed(dir, pkg string) bool {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
		return false
	}
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	hidden, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	return err == nil && !hidden.ModTime().Before(lock.ModTime())
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// EntraToken checks a wresult Gatehouse posted to Microsoft 365 the way
// the end-to-end tests need: passport-wsfed-saml2 (realm
// urn:federation:MicrosoftOnline, at now) and xmlsec1 must both accept it,
// trusting only certDER. It fails the test otherwise and returns the
// library's reading (issuer, claims) for the caller's own checks.
func EntraToken(tb testing.TB, wresult string, certDER []byte, now time.Time) PassportResult {
	tb.Helper()
	res := Passport(tb, PassportInput{CertBase64: base64.StdEncoding.EncodeToString(certDER), Realm: "urn:federation:MicrosoftOnline",
		Now: now, Cases: []PassportCase{{Name: "entra", WResult: wresult}}})
	if len(res) != 1 || !res[0].Valid {
		tb.Fatalf("passport-wsfed-saml2 refused the token: %+v", res)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	if err := XMLSec1(tb, []byte(wresult), certPEM, SAML11Assertion); err != nil {
		tb.Fatalf("xmlsec1: %v", err)
	}
	return res[0]
}
