package assertion

import (
	"crypto/x509"
	"encoding/pem"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
)

type x509Cert = x509.Certificate

func pemCert(kp *keys.KeyPair) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Cert.Raw})
}
