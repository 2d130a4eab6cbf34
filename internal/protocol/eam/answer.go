package eam

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
)

// Kinds of factor, as Entra's acr values name them: the acr is the kinds
// the second factor may be, joined by "or" (possessionorinherence).
const (
	knowledge  = "knowledge"
	possession = "possession"
	inherence  = "inherence"
)

// kindOf is the kind of each amr value (RFC 8176, and Microsoft's fido)
// Entra accepts from an external method. Entra requires one other than
// the first factor's, the password's knowledge.
var kindOf = map[string]string{
	"otp": possession, "hwk": possession, "swk": possession, "fido": possession, "sms": possession, "tel": possession,
	"pop": possession, "sc": possession,
	"face": inherence, "fpt": inherence, "iris": inherence, "retina": inherence, "vbm": inherence,
	"pwd": knowledge, "pin": knowledge, "kba": knowledge,
}

// ourAMR are the amr values a Gatehouse second factor is named by: otp
// (an authenticator app, or an email code where it is a second factor),
// hwk or swk (a passkey or security key, by where its key lives), and
// fido, Microsoft's name for the latter.
var ourAMR = []string{"otp", "hwk", "swk", "fido"}

// acrAllows reports whether the acr value lets a factor of kind answer.
func acrAllows(acr, kind string) bool { return slices.Contains(strings.Split(acr, "or"), kind) }

// ChooseAMR is the one amr value the answer names for the second factor
// the engine reports in methods (RFC 8176 values; "mfa" and "pwd" are not
// a method of their own here), among those Entra allows (empty: any). A
// passkey's hwk or swk may be named fido where Entra allows only that.
func ChooseAMR(methods, allowed []string) (string, bool) {
	var candidates []string
	for _, m := range methods {
		if k, ok := kindOf[m]; ok && k != knowledge && slices.Contains(ourAMR, m) {
			candidates = append(candidates, m)
			if m == "hwk" || m == "swk" {
				candidates = append(candidates, "fido")
			}
		}
	}
	for _, c := range candidates {
		if len(allowed) == 0 || slices.Contains(allowed, c) {
			return c, true
		}
	}
	return "", false
}

// ChooseACR is the first of the requested acr values that a factor named
// amr satisfies.
func ChooseACR(requested []string, amr string) (string, bool) {
	kind, ok := kindOf[amr]
	if !ok || kind == knowledge {
		return "", false
	}
	for _, acr := range requested {
		if acrAllows(acr, kind) {
			return acr, true
		}
	}
	return "", false
}

// Answer is the id_token Entra takes back.
type Answer struct {
	// Issuer is Gatehouse's issuer, as its discovery document states it.
	Issuer string
	// Audience is the app's client_id.
	Audience string
	// Subject is the hint's sub, unchanged.
	Subject string
	Nonce   string
	ACR     string
	AMR     string
	// AuthTime is when the second factor was used.
	AuthTime time.Time
	Now      time.Time
	// Lifetime bounds the token; Entra takes it at once.
	Lifetime time.Duration
}

type answerClaims struct {
	jwt.Claims
	Nonce    string   `json:"nonce"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time,omitempty"`
}

// Sign is the answer as a JWT signed RS256 by kp, its kid in the header
// (the kid the JWKS publishes it under).
func (a Answer) Sign(kp *keys.KeyPair) (string, error) {
	if a.Issuer == "" || a.Audience == "" || a.Subject == "" || a.Nonce == "" || a.ACR == "" || a.AMR == "" || a.Lifetime <= 0 {
		return "", fmt.Errorf("eam: an incomplete answer %+v", a)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: kp.Key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kp.ID))
	if err != nil {
		return "", fmt.Errorf("eam: signer: %w", err)
	}
	c := answerClaims{
		Claims: jwt.Claims{Issuer: a.Issuer, Subject: a.Subject, Audience: jwt.Audience{a.Audience},
			IssuedAt: jwt.NewNumericDate(a.Now), NotBefore: jwt.NewNumericDate(a.Now), Expiry: jwt.NewNumericDate(a.Now.Add(a.Lifetime))},
		Nonce: a.Nonce, ACR: a.ACR, AMR: []string{a.AMR},
	}
	if !a.AuthTime.IsZero() {
		c.AuthTime = a.AuthTime.Unix()
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("eam: sign: %w", err)
	}
	return tok, nil
}
