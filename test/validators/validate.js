#!/usr/bin/env node
// Independent check of the WS-Federation tokens Gatehouse signs, with
// passport-wsfed-saml2 (the Auth0 relying-party library) — the same code path
// a Node relying party runs when it receives the auto-POSTed form.
//
// Reads one JSON object on stdin:
//   {"cert": "<bare base64 DER of the trusted signing certificate>",
//    "realm": "urn:federation:MicrosoftOnline",
//    "now": "2026-03-01T10:00:00Z",          // the clock the library checks against
//    "cases": [{"name": "…", "wresult": "<t:RequestSecurityTokenResponse…>"},
//              {"name": "…", "assertion": "<saml:Assertion…>"}]}
// and prints one JSON array, a result per case:
//   [{"name": "…", "valid": true, "issuer": "…", "profile": {claim: value}},
//    {"name": "…", "valid": false, "error": "Signature check errors: …"}]
// Exit status 0 when every case was checked (valid or not), 2 on bad input.
'use strict';

const fixClock = require('./clock');

function readStdin() {
  return require('fs').readFileSync(0, 'utf8');
}

function checkCase(Strategy, opts, c) {
  return new Promise((resolve) => {
    const done = (r) => resolve(Object.assign({ name: c.name }, r));
    let strategy;
    const verify = (profile, cb) => cb(null, profile);
    try {
      strategy = new Strategy(Object.assign({}, opts), verify);
    } catch (e) {
      done({ valid: false, error: 'strategy: ' + e.message });
      return;
    }
    strategy.success = (profile) => {
      const issuer = profile.issuer;
      done({ valid: true, issuer: issuer, profile: profile });
    };
    strategy.fail = (info) => {
      const msg = info && info.message ? info.message : JSON.stringify(info);
      done({ valid: false, error: 'fail: ' + msg });
    };
    strategy.error = (err) => done({ valid: false, error: err && err.message ? err.message : String(err) });
    strategy.redirect = (url) => done({ valid: false, error: 'unexpected redirect to ' + url });
    try {
      if (c.wresult !== undefined) {
        // The path a relying party takes for the POSTed form.
        strategy.authenticate({ method: 'POST', body: { wa: 'wsignin1.0', wresult: c.wresult, wctx: c.wctx || '' } }, {});
      } else if (c.assertion !== undefined) {
        strategy._saml.validateSamlAssertion(c.assertion, (err, profile) => {
          if (err) {
            done({ valid: false, error: err.message });
          } else {
            done({ valid: true, issuer: profile.issuer, profile: profile });
          }
        });
      } else {
        done({ valid: false, error: 'case has neither wresult nor assertion' });
      }
    } catch (e) {
      done({ valid: false, error: 'threw: ' + e.message });
    }
  });
}

async function main() {
  let input;
  try {
    input = JSON.parse(readStdin());
  } catch (e) {
    process.stderr.write('bad input: ' + e.message + '\n');
    process.exit(2);
  }
  if (!input.cert || !input.realm || !input.now || !Array.isArray(input.cases)) {
    process.stderr.write('input needs cert, realm, now and cases\n');
    process.exit(2);
  }
  fixClock(input.now);
  const Strategy = require('passport-wsfed-saml2').Strategy;
  const opts = {
    cert: input.cert,
    realm: input.realm,
    protocol: 'wsfed',
    checkExpiration: true,
    checkAudience: true,
    checkCertExpiration: true,
    clockSkew: 0,
    recipientUrl: input.recipientUrl || 'https://rp.invalid/',
  };
  const results = [];
  for (const c of input.cases) {
    results.push(await checkCase(Strategy, opts, c));
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(2);
});
