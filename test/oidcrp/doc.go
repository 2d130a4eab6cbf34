// Package oidcrp runs an independent OpenID Connect relying party —
// openid-client (npm, by panva), driven by rp.mjs in this folder — against
// Gatehouse's provider, for the Go tests: it makes the authorization
// request (PKCE S256, state, nonce), and checks the code exchange, the ID
// token (signature by the JWK set, iss, aud, nonce, the authorization
// response's iss), userinfo, and refresh-token rotation and reuse the way
// a Node application does.
//
// A missing node or npm install skips the test locally and fails it under
// CI (testenv.Unavailable). The npm dependencies are installed on first
// use with `npm ci` (package-lock.json is committed; node_modules never
// is).
package oidcrp
