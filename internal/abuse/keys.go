package abuse

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
)

// ClientKey names the client an address belongs to for the per-address
// limits: an IPv4 address (also one written as IPv4-mapped IPv6) is itself;
// an IPv6 address is its network of v6Prefix bits, so one /64 — which one
// subscriber holds, 2^64 addresses — is one client. An address that does
// not parse is "unknown": all such share one budget.
func ClientKey(ip string, v6Prefix int) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(v6Prefix)
	if err != nil {
		return "unknown"
	}
	return p.String()
}

// CanonicalLogin is the form of a typed login that names one budget before
// the directory has said which account it is: trimmed, lower case, and
// without a NetBIOS domain (CORP\alice is alice). Different forms of one
// account (UPN, mail) still differ here; the account budget joins them.
func CanonicalLogin(login string) string {
	login = strings.TrimSpace(login)
	if i := strings.LastIndexByte(login, '\\'); i >= 0 {
		login = login[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(login))
}

// loginKey is the counter of a name before the directory has said which
// account it is. The name is kept as typed (canonical): the audit keeps it
// too, and an administrator's status and unlock find it without a key.
func loginKey(login string) string { return keyLogin + CanonicalLogin(login) }

// mac is a keyed hash of parts, hex, 128 bits: what the store keeps
// instead of a wrong password.
func mac(key []byte, purpose string, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Counter keys. Account IDs, client addresses and typed logins are kept
// readable (an administrator's status and reset name them); wrong
// passwords only as keyed hashes.
const (
	keyAddress        = "pw:ip:"     // + client
	keyLogin          = "pw:login:"  // + canonical login
	keyAccount        = "pw:acct:"   // + user ID: unfamiliar clients
	keyDevice         = "pw:dev:"    // + device hash: one familiar browser
	keyFamiliarAddr   = "pw:fama:"   // + user ID + ":" + client: one familiar address
	keyInFlight       = "pw:flight:" // + user ID: passwords on their way to AD
	keyWrong          = "pw:wrong:"  // + mac(user ID, pwdLastSet, password)
	keySeenAddr       = "fam:addr:"  // + client [+ ":" + user ID]: signed in from here
	keyCodes          = "code:user:" // + user ID
	keySelfAccount    = "code:ss:acct:"
	keySelfAddress    = "code:ss:ip:"
	keySelfStrikes    = "code:ss:strikes:"
	keySelfStruck     = "code:ss:struck:"
	keyEventDedupe    = "ev:"
	keyFamiliarDevice = "familiar" // store.Credential type of familiar browsers
)
