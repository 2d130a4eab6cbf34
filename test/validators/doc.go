// Package validators runs independent consumers against the tokens and
// metadata Gatehouse signs, for the Go tests of the protocol packages:
// xmlsec1 (Debian's XML-DSig reference tool) checks signatures and
// decrypts encrypted assertions, passport-wsfed-saml2 (npm, run by
// validate.js in this folder) accepts or rejects a WS-Federation token the
// way a relying party does, and @node-saml/node-saml (npm, run by saml2.js)
// does the same for a SAML 2.0 Response as a service provider.
//
// None checks the issuer or the algorithms used; the tests assert those
// themselves. A missing xmlsec1, node or npm install skips the test locally
// and fails it under CI (testenv.Unavailable). The npm dependencies are
// installed on first use with `npm ci` (package-lock.json is committed;
// node_modules never is).
//
// It also holds fixed test signing keys (testdata/*.key, *.crt: NOT secret,
// valid 2000–2100) so golden files are deterministic.
package validators
