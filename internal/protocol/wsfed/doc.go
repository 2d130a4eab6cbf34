// Package wsfed is the token side of WS-Federation passive sign-in (MS-MWBF)
// for Microsoft Entra ID and generic WS-Federation relying parties: the
// relying-party model (realm, exact reply URLs, Entra's federated domains
// and their issuers), pure parsing and validation of wsignin1.0 /
// wsignout1.0 / wsignoutcleanup1.0 requests, the RequestSecurityTokenResponse
// (wresult) around a signed SAML 1.1 assertion, the auto-submitting POST
// form with the Content-Security-Policy it needs, and the signed
// FederationMetadata document.
//
// It does not authenticate anyone, keep sessions or talk to the directory:
// the /wsfed HTTP handler asks the sign-in flow for the user, then calls
// IssueAssertion, BuildRSTR and PostForm here. It never redirects to a URL
// that is not a configured reply URL of a known relying party.
package wsfed
