package keys

import (
	"crypto/sha1" // #nosec G505 -- x5t is the certificate's SHA-1 thumbprint, an identifier, not a signature.
	"crypto/sha256"
	"crypto/x509"

	"github.com/go-jose/go-jose/v4"
)

// JWK is kp's public key as OpenID Connect relying parties fetch it: RS256,
// use "sig", kid the KeyPair's ID (what every token Gatehouse signs names
// in its header), and the certificate as x5c with its thumbprints (x5t,
// x5t#S256). Microsoft Entra ID, for one, wants x5c on every key of an
// external authentication method.
func (kp *KeyPair) JWK() jose.JSONWebKey {
	s1 := sha1.Sum(kp.Cert.Raw) // #nosec G401 -- a thumbprint, see import.
	s256 := sha256.Sum256(kp.Cert.Raw)
	return jose.JSONWebKey{
		Key: &kp.Key.PublicKey, KeyID: kp.ID, Algorithm: string(jose.RS256), Use: "sig",
		Certificates:                []*x509.Certificate{kp.Cert},
		CertificateThumbprintSHA1:   s1[:],
		CertificateThumbprintSHA256: s256[:],
	}
}

// JWKS is the key set to publish at the JWKS URI: the current key and,
// ahead of a rollover, the next one, so that relying parties that cache
// the set (Entra: 24 hours) trust the next key before it signs.
func JWKS(s *Set) jose.JSONWebKeySet {
	var out jose.JSONWebKeySet
	for _, kp := range s.Published() {
		out.Keys = append(out.Keys, kp.JWK())
	}
	return out
}
