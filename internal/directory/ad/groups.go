package ad

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Nested group membership.
//
// A user's direct groups are the memberOf values of the user search that
// Authenticate makes anyway, so they are always fresh and cost nothing.
// Their parents (the groups those groups are members of, recursively) come
// from the memberOf of each group, cached for GroupCacheTTL: group nesting
// changes rarely, and a warm cache keeps a sign-in at two LDAP operations.
// A cold cache costs one search per nesting level (all groups of a level in
// one OR filter, in chunks of groupChunk). The result equals an
// LDAP_MATCHING_RULE_IN_CHAIN (1.2.840.113556.1.4.1941) search on member —
// the integration tests check that — which costs a third operation on every
// sign-in, as tokenGroups would (a base search plus resolving the SIDs).
// Like the in-chain rule, it does not include the primary group (Domain
// Users), which AD does not list in memberOf.

// groupChunk is how many group DNs one parent search asks for.
const groupChunk = 64

type cachedGroup struct {
	parents []string
	expires time.Time
}

// groupCache maps a group's DN (lower case) to its direct parent groups.
type groupCache struct {
	ttl time.Duration // negative: no caching
	mu  sync.Mutex
	m   map[string]cachedGroup
}

func (c *groupCache) get(dn string, now time.Time) ([]string, bool) {
	if c.ttl < 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.m[strings.ToLower(dn)]
	if !ok || !now.Before(g.expires) {
		return nil, false
	}
	return g.parents, true
}

func (c *groupCache) put(dn string, parents []string, now time.Time) {
	if c.ttl < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 50000 { // keep a runaway directory from growing the map forever
		for k, g := range c.m {
			if !now.Before(g.expires) {
				delete(c.m, k)
			}
		}
	}
	c.m[strings.ToLower(dn)] = cachedGroup{parents: parents, expires: now.Add(c.ttl)}
}

// expandGroups returns direct plus every group they are nested in, each
// once, direct groups first.
func (d *Directory) expandGroups(ctx context.Context, direct []string) ([]string, error) {
	seen := map[string]bool{}
	var all []string
	level := direct
	for len(level) > 0 {
		var next, missing []string
		now := d.now()
		for _, g := range level {
			k := strings.ToLower(g)
			if seen[k] {
				continue
			}
			seen[k] = true
			all = append(all, g)
			if parents, ok := d.groups.get(g, now); ok {
				next = append(next, parents...)
			} else {
				missing = append(missing, g)
			}
		}
		for len(missing) > 0 {
			chunk := missing[:min(groupChunk, len(missing))]
			missing = missing[len(chunk):]
			parents, err := d.fetchParents(ctx, chunk)
			if err != nil {
				return nil, err
			}
			now := d.now()
			for _, g := range chunk {
				p := parents[strings.ToLower(g)]
				d.groups.put(g, p, now)
				next = append(next, p...)
			}
		}
		level = next
	}
	return all, nil
}

// fetchParents reads the memberOf of the given groups in one search from the
// domain root. A group that is not found (another domain, deleted) has no
// parents.
func (d *Directory) fetchParents(ctx context.Context, groups []string) (map[string][]string, error) {
	var b strings.Builder
	b.WriteString("(&(objectClass=group)(|")
	for _, g := range groups {
		b.WriteString("(distinguishedName=" + ldap.EscapeFilter(g) + ")")
	}
	b.WriteString("))")
	req := ldap.NewSearchRequest(d.domainDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, timeLimit(ctx), false, b.String(), []string{"memberOf"}, nil)
	out := map[string][]string{}
	err := d.run(ctx, runOpts{kind: servicePool, name: "search_groups"}, func(ctx context.Context, c ldapConn, _ *dc) error {
		res, err := c.Search(ctx, req)
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			out[strings.ToLower(e.DN)] = e.GetEqualFoldAttributeValues("memberOf")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ad: read parent groups: %w", err)
	}
	return out, nil
}
