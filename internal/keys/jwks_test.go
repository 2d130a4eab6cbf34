package keys

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestTheJWKSPublishesCurrentAndNextKeysWithTheirCertificatesUnderTheSignersKid(t *testing.T) {
	now := time.Now()
	cur, err := Generate("current", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	next, err := Generate("next", now, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(cur, next)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(JWKS(set))
	if err != nil {
		t.Fatal(err)
	}
	// What a relying party reads: plain JSON.
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 2 {
		t.Fatalf("%d keys, want the current and the next: %s", len(doc.Keys), raw)
	}
	for i, kp := range []*KeyPair{cur, next} {
		k := doc.Keys[i]
		x5c, _ := k["x5c"].([]any)
		if k["kid"] != kp.ID || k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || len(x5c) != 1 ||
			x5c[0] != kp.CertificateBase64() || k["x5t#S256"] != kp.ID || k["x5t"] == nil {
			t.Errorf("key %d = %v", i, k)
		}
	}
	// A token the current key signs, with its ID in the header, verifies
	// against the published set's key of that kid.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: cur.Key},
		(&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), cur.ID))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := signer.Sign([]byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := signed.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var published jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &published); err != nil {
		t.Fatal(err)
	}
	keys := published.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("the header's kid %q names %d published keys", jws.Signatures[0].Header.KeyID, len(keys))
	}
	if _, err := jws.Verify(keys[0].Key); err != nil {
		t.Fatalf("the published key does not verify the signature: %v", err)
	}
}
