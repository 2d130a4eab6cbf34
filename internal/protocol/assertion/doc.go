// Package assertion turns an authenticated user's claims into signed SAML
// assertions: the SAML 1.1 assertion Microsoft Entra ID and other
// WS-Federation relying parties take (MS-MWBF 2.2.4.2) and the SAML 2.0 one
// protocol/saml puts in its Responses, both through the shared enveloped
// XML-DSig Signer (goxmldsig: RSA-SHA256, SHA-256, exclusive C14N,
// certificate in KeyInfo).
//
// It owns the exact token layout, the claim URIs and the rule that the MFA
// claims appear only when MFA happened. It must not decide who the user is,
// which relying party asked, which issuer a domain uses or what an SP's
// NameID and attributes are (protocol/wsfed and protocol/saml do), and
// never reads the clock, randomness or keys from globals: the caller
// injects them.
package assertion
