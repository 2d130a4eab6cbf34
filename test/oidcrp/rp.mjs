#!/usr/bin/env node
// An independent OpenID Connect relying party: openid-client (panva), run
// by the Go tests against Gatehouse's provider. The browser part is the
// test's; this script makes the authorization request and then checks
// everything that comes back the way a Node application would.
//
// Reads one JSON object on stdin:
//   {"step": "start" | "finish",
//    "issuer": "http://127.0.0.1:…", "client_id": "…", "redirect_uri": "…", "scope": "openid …",
//    "auth": {"method": "client_secret_basic" | "client_secret_post" | "private_key_jwt" | "none",
//             "secret": "…", "jwk": {…private RSA JWK…}},
//    // finish only: what start printed, and where the browser ended
//    "callback": "…", "verifier": "…", "state": "…", "nonce": "…"}
// and prints one JSON object:
//   start:  {"url": "…", "verifier": "…", "state": "…", "nonce": "…"}
//   finish: {"claims": {…}, "id_token_header": {…}, "userinfo": {…},
//            "refreshed_sub": "…", "rotated": true, "reuse_error": "invalid_grant",
//            "after_reuse_error": "invalid_grant"}
//   or {"error": "…"} when openid-client refused something.
import * as client from 'openid-client';
import { readFileSync } from 'node:fs';

const input = JSON.parse(readFileSync(0, 'utf8'));

async function clientAuth(auth) {
  switch (auth.method) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(auth.secret);
    case 'client_secret_post':
      return client.ClientSecretPost(auth.secret);
    case 'private_key_jwt': {
      const key = await crypto.subtle.importKey('jwk', auth.jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
      return client.PrivateKeyJwt({ key, kid: auth.jwk.kid });
    }
    default:
      return client.None();
  }
}

async function configure() {
  const metadata = { token_endpoint_auth_method: input.auth.method };
  const opts = input.issuer.startsWith('http://') ? { execute: [client.allowInsecureRequests] } : {};
  return client.discovery(new URL(input.issuer), input.client_id, metadata, await clientAuth(input.auth), opts);
}

function errorCode(e) {
  return e && (e.error || e.code || e.message) ? String(e.error || e.code || e.message) : String(e);
}

function jwtHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));
}

async function start(config) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirect_uri,
    scope: input.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url: url.href, verifier, state, nonce };
}

async function finish(config) {
  const tokens = await client.authorizationCodeGrant(config, new URL(input.callback), {
    pkceCodeVerifier: input.verifier,
    expectedState: input.state,
    expectedNonce: input.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const out = { claims, id_token_header: jwtHeader(tokens.id_token) };
  out.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  out.refreshed_sub = refreshed.claims()?.sub;
  out.rotated = Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
    out.reuse_error = '';
  } catch (e) {
    out.reuse_error = errorCode(e);
  }
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token);
    out.after_reuse_error = '';
  } catch (e) {
    out.after_reuse_error = errorCode(e);
  }
  return out;
}

try {
  const config = await configure();
  const out = input.step === 'start' ? await start(config) : await finish(config);
  process.stdout.write(JSON.stringify(out));
} catch (e) {
  process.stdout.write(JSON.stringify({ error: errorCode(e), detail: String(e && e.cause ? e.cause : '') }));
}
