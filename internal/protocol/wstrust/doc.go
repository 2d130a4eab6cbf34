// Package wstrust is WS-Trust for rich clients of Microsoft Entra ID (MSAL,
// the Windows sign-in broker, older Outlook): the usernamemixed endpoints
// of WS-Trust 1.3 and 2005 over SOAP 1.2 or 1.1, and the MEX document they
// are found by (WSTRUST.md has every wire fact).
//
// It owns parsing the request (size-limited, no DTDs, WS-Security
// UsernameToken, timestamp and addressing checks), the
// RequestSecurityTokenResponse around the same SAML 1.1 assertion the
// passive profile issues, SOAP faults for each error class, and an
// http.Handler that ties them to an Authenticator and an issuer callback.
// It must not decide claims or issuers (the callback does, with
// protocol/wsfed and protocol/assertion), must never tell a wrong password
// from an unknown, locked or disabled account in what it answers, and
// never logs a password.
package wstrust
