#!/usr/bin/env node
// Independent check of the SAML 2.0 Responses Gatehouse posts to a service
// provider, with @node-saml/node-saml (the library under passport-saml):
// the same validatePostResponseAsync a Node SP runs on the POSTed
// SAMLResponse — signatures, decryption, validity window, audience and,
// when a request ID is given, InResponseTo. It does not check Destination,
// Recipient or the Issuer: the Go tests assert those themselves.
//
// Reads one JSON object on stdin:
//   {"cert": "<PEM of the trusted IdP signing certificate>",
//    "now": "2026-03-01T10:00:00Z",          // the clock the library checks against
//    "entityID": "https://sp.example/",       // the SP (issuer option)
//    "audience": "https://sp.example/",       // expected Audience
//    "acs": "https://sp.example/acs",         // callbackUrl
//    "wantAssertionsSigned": true, "wantResponseSigned": false,
//    "decryptionKey": "<PEM private key>",    // optional
//    "requestID": "_abc",                     // optional: InResponseTo must be this
//    "cases": [{"name": "…", "samlResponse": "<base64 of the Response>"}]}
// and prints one JSON array, a result per case:
//   [{"name": "…", "valid": true, "profile": {…}, "assertion": "<the assertion it read>"},
//    {"name": "…", "valid": false, "error": "Invalid signature"}]
// Exit status 0 when every case was checked (valid or not), 2 on bad input.
'use strict';

const fixClock = require('./clock');

async function checkCase(SAML, input, c) {
  const opts = {
    idpCert: input.cert,
    issuer: input.entityID,
    audience: input.audience,
    callbackUrl: input.acs,
    wantAssertionsSigned: Boolean(input.wantAssertionsSigned),
    wantAuthnResponseSigned: Boolean(input.wantResponseSigned),
    acceptedClockSkewMs: 0,
    validateInResponseTo: input.requestID ? 'always' : 'never',
  };
  if (input.decryptionKey) {
    opts.decryptionPvk = input.decryptionKey;
  }
  let saml;
  try {
    saml = new SAML(opts);
    if (input.requestID) {
      await saml.cacheProvider.saveAsync(input.requestID, new Date().toISOString());
    }
  } catch (e) {
    return { name: c.name, valid: false, error: 'setup: ' + e.message };
  }
  try {
    const { profile, loggedOut } = await saml.validatePostResponseAsync({ SAMLResponse: c.samlResponse });
    if (!profile) {
      return { name: c.name, valid: false, error: 'no profile (loggedOut=' + loggedOut + ')' };
    }
    const plain = {};
    for (const [k, v] of Object.entries(profile)) {
      if (typeof v !== 'function') {
        plain[k] = v;
      }
    }
    return { name: c.name, valid: true, profile: plain, assertion: profile.getAssertionXml() };
  } catch (e) {
    return { name: c.name, valid: false, error: e && e.message ? e.message : String(e) };
  }
}

async function main() {
  let input;
  try {
    input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  } catch (e) {
    process.stderr.write('bad input: ' + e.message + '\n');
    process.exit(2);
  }
  if (!input.cert || !input.now || !input.entityID || !input.audience || !input.acs || !Array.isArray(input.cases)) {
    process.stderr.write('input needs cert, now, entityID, audience, acs and cases\n');
    process.exit(2);
  }
  fixClock(input.now);
  const { SAML } = require('@node-saml/node-saml');
  const results = [];
  for (const c of input.cases) {
    results.push(await checkCase(SAML, input, c));
  }
  process.stdout.write(JSON.stringify(results) + '\n');
  // The library's request-ID cache keeps a timer; do not wait for it.
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(2);
});
