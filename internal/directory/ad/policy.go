package ad

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// Domain policy attributes on the domain root, and the PSO attributes that
// override them. Intervals are negative counts of 100 ns.
var (
	domainPolicyAttrs = []string{
		"minPwdLength", "pwdProperties", "pwdHistoryLength", "maxPwdAge", "minPwdAge",
		"lockoutThreshold", "lockoutDuration", "lockOutObservationWindow",
	}
	psoAttrs = []string{
		"msDS-MinimumPasswordLength", "msDS-PasswordComplexityEnabled", "msDS-PasswordHistoryLength",
		"msDS-MaximumPasswordAge", "msDS-MinimumPasswordAge", "msDS-LockoutThreshold",
		"msDS-LockoutDuration", "msDS-LockoutObservationWindow",
	}
)

// pwdPropertiesComplex is bit 1 of pwdProperties (DOMAIN_PASSWORD_COMPLEX).
const pwdPropertiesComplex = 0x1

func decodeDomainPolicy(e *ldap.Entry) directory.Policy {
	return directory.Policy{
		MinLength:         int(attrInt(e, "minPwdLength")),
		Complexity:        attrInt(e, "pwdProperties")&pwdPropertiesComplex != 0,
		HistoryLength:     int(attrInt(e, "pwdHistoryLength")),
		MinAge:            interval(attrInt(e, "minPwdAge")),
		MaxAge:            interval(attrInt(e, "maxPwdAge")),
		LockoutThreshold:  int(attrInt(e, "lockoutThreshold")),
		LockoutDuration:   interval(attrInt(e, "lockoutDuration")),
		ObservationWindow: interval(attrInt(e, "lockOutObservationWindow")),
		Source:            "domain",
	}
}

// decodePSO reads a fine-grained policy. A PSO replaces the domain policy
// as a whole (every msDS-PasswordSettings attribute is mandatory).
func decodePSO(e *ldap.Entry) directory.Policy {
	return directory.Policy{
		MinLength:         int(attrInt(e, "msDS-MinimumPasswordLength")),
		Complexity:        strings.EqualFold(e.GetEqualFoldAttributeValue("msDS-PasswordComplexityEnabled"), "TRUE"),
		HistoryLength:     int(attrInt(e, "msDS-PasswordHistoryLength")),
		MinAge:            interval(attrInt(e, "msDS-MinimumPasswordAge")),
		MaxAge:            interval(attrInt(e, "msDS-MaximumPasswordAge")),
		LockoutThreshold:  int(attrInt(e, "msDS-LockoutThreshold")),
		LockoutDuration:   interval(attrInt(e, "msDS-LockoutDuration")),
		ObservationWindow: interval(attrInt(e, "msDS-LockoutObservationWindow")),
		Source:            e.DN,
	}
}

type cachedPolicy struct {
	p       directory.Policy
	expires time.Time
}

// policyCache keeps the domain policy and PSOs for policyTTL.
type policyCache struct {
	mu sync.Mutex
	m  map[string]cachedPolicy // "" = domain, else the PSO's DN (lower case)
}

func (c *policyCache) get(key string, now time.Time) (directory.Policy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[strings.ToLower(key)]
	return p.p, ok && now.Before(p.expires)
}

func (c *policyCache) put(key string, p directory.Policy, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[strings.ToLower(key)] = cachedPolicy{p: p, expires: now.Add(policyTTL)}
}

// effectivePolicy is the PSO named by psoDN, or the domain policy when
// psoDN is empty; each cached for policyTTL.
func (d *Directory) effectivePolicy(ctx context.Context, psoDN string) (directory.Policy, error) {
	if p, ok := d.policies.get(psoDN, d.now()); ok {
		return p, nil
	}
	base, attrs, decode := d.domainDN, domainPolicyAttrs, decodeDomainPolicy
	if psoDN != "" {
		base, attrs, decode = psoDN, psoAttrs, decodePSO
	}
	e, err := d.readEntry(ctx, base, attrs)
	if err != nil {
		return directory.Policy{}, fmt.Errorf("ad: read password policy %q: %w", base, err)
	}
	p := decode(e)
	d.policies.put(psoDN, p, d.now())
	return p, nil
}

// readEntry reads one object by DN (a base search) with the service account.
func (d *Directory) readEntry(ctx context.Context, dn string, attrs []string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, timeLimit(ctx), false,
		"(objectClass=*)", attrs, nil)
	var e *ldap.Entry
	err := d.run(ctx, runOpts{kind: servicePool, name: "read"}, func(ctx context.Context, c ldapConn, _ *dc) error {
		res, err := c.Search(ctx, req)
		if err != nil {
			return err
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("ad: %d entries for %s", len(res.Entries), dn)
		}
		e = res.Entries[0]
		return nil
	})
	return e, err
}

// passwordState is what a password write needs to know about the user,
// read fresh: names for the complexity rule, pwdLastSet for the minimum
// age, and the PSO that applies.
type passwordState struct {
	user   *directory.User
	policy directory.Policy
}

var passwordStateAttrs = []string{"objectGUID", "sAMAccountName", "displayName", "pwdLastSet", "msDS-ResultantPSO"}

func (d *Directory) readPasswordState(ctx context.Context, u *directory.User) (passwordState, error) {
	if u == nil || u.DN == "" {
		return passwordState{}, fmt.Errorf("ad: no user given")
	}
	e, err := d.readEntry(ctx, u.DN, passwordStateAttrs)
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return passwordState{}, fmt.Errorf("ad: %s: %w", u.DN, directory.ErrUserNotFound)
		}
		return passwordState{}, fmt.Errorf("ad: read %s: %w", u.DN, err)
	}
	fresh := &directory.User{
		DN:             e.DN,
		SAMAccountName: e.GetEqualFoldAttributeValue("sAMAccountName"),
		DisplayName:    e.GetEqualFoldAttributeValue("displayName"),
	}
	fresh.State.PasswordLastSet = fileTime(attrInt(e, "pwdLastSet"))
	p, err := d.effectivePolicy(ctx, e.GetEqualFoldAttributeValue("msDS-ResultantPSO"))
	if err != nil {
		return passwordState{}, err
	}
	return passwordState{user: fresh, policy: p}, nil
}

// PasswordPolicy returns the policy that applies to u: its PSO
// (msDS-ResultantPSO) when it has one, otherwise the domain policy.
func (d *Directory) PasswordPolicy(ctx context.Context, u *directory.User) (directory.Policy, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	st, err := d.readPasswordState(ctx, u)
	if err != nil {
		return directory.Policy{}, err
	}
	return st.policy, nil
}

// DomainPolicy implements directory.DomainPolicyReader: the domain's
// policy, which applies to every account without a PSO (cached for
// policyTTL).
func (d *Directory) DomainPolicy(ctx context.Context) (directory.Policy, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	return d.effectivePolicy(ctx, "")
}
