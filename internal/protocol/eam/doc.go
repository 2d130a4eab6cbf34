// Package eam serves Microsoft Entra ID's external authentication method
// (EAM): Entra checks the user's password, then sends the browser here for
// the second factor alone, and takes back an id_token saying which factor
// was used.
//
// Entra POSTs (form_post) an OpenID Connect implicit-flow request to the
// provider's authorization endpoint, which discovery names, so EAM is
// served at /oauth2/authorize beside the OIDC core: Handler answers the
// requests of entra-eam apps (recognised by their client_id) and hands
// every other request to Next, the OIDC core's authorize endpoint.
//
// It owns: parsing and checking the request (ParseRequest), verifying
// Entra's id_token_hint against the tenant's published keys (EntraKeys,
// VerifyHint), linking the Entra account (tenant + oid) to the AD user
// once and refusing a later mismatch, asking the sign-in engine for the
// second factor only (signin.Request.SecondFactorOnly), and signing and
// posting the answer (Answer). It never talks to the directory itself
// (the engine finds the user), never decides what must be proved (the
// policy does), never issues a Gatehouse session, and never logs a token.
package eam
