package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// Subjects makes the sub claim: never the login name, which changes when
// the user is renamed and would tell every app who the user is elsewhere.
type Subjects struct {
	// Key keys pairwise subjects (derived from the encryption key: losing
	// it changes every pairwise subject).
	Key []byte
}

// For is the user's subject at client c: pairwise, a keyed hash of the
// client's sector (its redirect host) and the user's stable ID, so two
// apps cannot join their users; public, the stable ID itself (the hex of
// the AD objectGUID), the same at every app.
func (s Subjects) For(c *Client, userID string) string {
	if !c.Pairwise {
		return userID
	}
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("pairwise\x00" + c.Sector + "\x00" + userID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Claims are what a token may say about the user, taken from the
// directory at sign-in (and again at each refresh).
type Claims struct {
	Name              string   `json:"name,omitempty"`
	GivenName         string   `json:"given_name,omitempty"`
	FamilyName        string   `json:"family_name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
	Groups            []string `json:"groups,omitempty"`
}

// ClaimsOf takes the claims from a directory user. preferred_username is
// the UPN (else the sAMAccountName); groups are the common names of the
// user's groups, nested membership included.
func ClaimsOf(u *directory.User) Claims {
	c := Claims{Name: u.DisplayName, GivenName: u.GivenName, FamilyName: u.Surname, Email: u.Mail,
		PreferredUsername: u.UPN}
	if c.PreferredUsername == "" {
		c.PreferredUsername = u.SAMAccountName
	}
	for _, dn := range u.Groups {
		if cn := commonName(dn); cn != "" && !slices.Contains(c.Groups, cn) {
			c.Groups = append(c.Groups, cn)
		}
	}
	slices.Sort(c.Groups)
	return c
}

// commonName is the value of a DN's first RDN when it is a CN (escapes
// undone: CN=R\,D is "R,D"), else the DN itself (a file directory's
// groups are plain names).
func commonName(dn string) string {
	first := dn
	for i := 0; i < len(dn); i++ {
		if dn[i] == '\\' {
			i++
			continue
		}
		if dn[i] == ',' || dn[i] == '+' {
			first = dn[:i]
			break
		}
	}
	k, v, ok := strings.Cut(first, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(k), "cn") {
		return dn
	}
	return unescapeRDN(strings.TrimSpace(v))
}

// unescapeRDN undoes RFC 4514 escapes: a backslash before a special
// character, or before two hex digits.
func unescapeRDN(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 == len(v) {
			b.WriteByte(v[i])
			continue
		}
		if i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			b.WriteByte(unhex(v[i+1])<<4 | unhex(v[i+2]))
			i += 2
			continue
		}
		i++
		b.WriteByte(v[i])
	}
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// fill sets the claims scopes ask for on info, and sub.
func (c Claims) fill(info *oidc.UserInfo, sub string, scopes []string) {
	info.Subject = sub
	for _, s := range scopes {
		switch s {
		case oidc.ScopeProfile:
			info.Name, info.GivenName, info.FamilyName = c.Name, c.GivenName, c.FamilyName
			info.PreferredUsername = c.PreferredUsername
		case oidc.ScopeEmail:
			if c.Email != "" {
				// The directory's address, set by an administrator: as
				// verified as an address gets inside an organisation.
				info.Email, info.EmailVerified = c.Email, true
			}
		case ScopeGroups:
			if len(c.Groups) > 0 {
				info.AppendClaims("groups", slices.Clone(c.Groups))
			} else {
				info.AppendClaims("groups", []string{})
			}
		}
	}
}

// ScopeGroups asks for the groups claim.
const ScopeGroups = "groups"

// acrFor is the acr claim of a sign-in: with a second factor the policy
// counts (mfa), the MFA value the request asked for, if any, else PAPE's
// multi-factor; without, password-protected transport.
func acrFor(mfa bool, requested []string) string {
	if !mfa {
		return ACRPassword
	}
	for _, r := range requested {
		if slices.Contains(MFAValues(), r) {
			return r
		}
	}
	return ACRMFA
}
