// Package oidc is Gatehouse's OpenID Connect provider: discovery, the JWK
// set (with x5c), the authorization-code flow with PKCE, the token,
// userinfo and revocation endpoints, RP-initiated and back-channel logout.
//
// It adapts github.com/zitadel/oidc/v3/pkg/op (its Storage, AuthRequest and
// Client) to Gatehouse: the browser part of /oauth2/authorize runs the one
// sign-in engine (internal/signin), which asks the policy what the user
// must prove; this package only translates the request's prompt, max_age,
// acr_values and login_hint into the engine's Request. Clients come from
// the configuration; codes, access and refresh tokens are kept as hashes
// (store.Tickets for codes, store.Grants for token families).
//
// It builds what the library lacks: pairwise subjects, refresh-token
// rotation with reuse detection (a reused token revokes its family), the
// back-channel logout sender, x5c in the JWK set, and honest amr and acr.
//
// It must not talk to the directory except to re-check an account when a
// refresh token is used, and must never log a code, token or secret.
package oidc
