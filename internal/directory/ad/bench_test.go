package ad

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// BenchmarkAuthenticate signs alice in against the real DC and reports
// sign-ins per second (each one user bind) and LDAP operations per sign-in
// (counted by the directory itself; StartTLS, service binds and group
// searches included).
//
//	go test -run '^$' -bench Authenticate ./internal/directory/ad/
func BenchmarkAuthenticate(b *testing.B) {
	env := requireAD(b)
	ctx := context.Background()
	run := func(b *testing.B, d *Directory, parallel bool) {
		if _, err := d.Authenticate(ctx, "alice", testenv.Alice.Password); err != nil { // warm
			b.Fatal(err)
		}
		ops := d.ops.Load()
		b.ResetTimer()
		start := time.Now()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := d.Authenticate(ctx, "alice", testenv.Alice.Password); err != nil {
						b.Error(err)
						return
					}
				}
			})
		} else {
			for range b.N {
				if _, err := d.Authenticate(ctx, "alice", testenv.Alice.Password); err != nil {
					b.Fatal(err)
				}
			}
		}
		took := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/took.Seconds(), "binds/s")
		b.ReportMetric(float64(d.ops.Load()-ops)/float64(b.N), "ops/signin")
	}
	b.Run("warm pool", func(b *testing.B) {
		run(b, openAD(b, env.config()), false)
	})
	b.Run("warm pool, 8 parallel, 8 connections", func(b *testing.B) {
		cfg := env.config()
		cfg.PoolSize = 8
		b.SetParallelism(4) // 4×GOMAXPROCS goroutines
		run(b, openAD(b, cfg), true)
	})
	b.Run("dial per operation", func(b *testing.B) {
		d := openAD(b, env.config())
		d.dialPerOp = true
		run(b, d, false)
	})
	b.Run("dial per operation over StartTLS", func(b *testing.B) {
		cfg := env.config()
		cfg.URLs = []string{env.startTLSURL}
		d := openAD(b, cfg)
		d.dialPerOp = true
		run(b, d, false)
	})
}

// BenchmarkGroupExpansion compares ways to get alice's nested groups, on one
// service connection, after her user search (whose memberOf this package
// uses). It reports LDAP operations per expansion on top of that search.
func BenchmarkGroupExpansion(b *testing.B) {
	env := requireAD(b)
	ctx := context.Background()
	report := func(b *testing.B, d *Directory, ops int64) {
		b.ReportMetric(float64(d.ops.Load()-ops)/float64(b.N), "ops/expansion")
	}
	direct := []string{testenv.ADGroupEngineers}

	b.Run("memberOf with a warm group cache (this package)", func(b *testing.B) {
		d := openAD(b, env.config())
		if _, err := d.expandGroups(ctx, direct); err != nil {
			b.Fatal(err)
		}
		ops := d.ops.Load()
		b.ResetTimer()
		for range b.N {
			if _, err := d.expandGroups(ctx, direct); err != nil {
				b.Fatal(err)
			}
		}
		report(b, d, ops)
	})
	b.Run("memberOf without the cache: one search per level", func(b *testing.B) {
		d := openAD(b, env.config())
		d.groups.ttl = -1
		ops := d.ops.Load()
		b.ResetTimer()
		for range b.N {
			if _, err := d.expandGroups(ctx, direct); err != nil {
				b.Fatal(err)
			}
		}
		report(b, d, ops)
	})
	b.Run("in-chain search (1.2.840.113556.1.4.1941)", func(b *testing.B) {
		d := openAD(b, env.config())
		filter := "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=" + ldap.EscapeFilter(testenv.Alice.DN) + "))"
		ops := d.ops.Load()
		b.ResetTimer()
		for range b.N {
			err := d.run(ctx, runOpts{kind: servicePool, name: "bench"}, func(ctx context.Context, c ldapConn, _ *dc) error {
				_, err := c.Search(ctx, ldap.NewSearchRequest(d.domainDN, ldap.ScopeWholeSubtree, 0, 0, 0, false, filter, []string{"dn"}, nil))
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b, d, ops)
	})
	b.Run("tokenGroups, then resolve the SIDs", func(b *testing.B) {
		d := openAD(b, env.config())
		ops := d.ops.Load()
		b.ResetTimer()
		for range b.N {
			err := d.run(ctx, runOpts{kind: servicePool, name: "bench"}, func(ctx context.Context, c ldapConn, _ *dc) error {
				res, err := c.Search(ctx, ldap.NewSearchRequest(testenv.Alice.DN, ldap.ScopeBaseObject, 0, 1, 0, false,
					"(objectClass=*)", []string{"tokenGroups"}, nil))
				if err != nil {
					return err
				}
				var f strings.Builder
				f.WriteString("(|")
				for _, sid := range res.Entries[0].GetRawAttributeValues("tokenGroups") {
					f.WriteString("(objectSid=")
					for _, x := range sid {
						f.WriteString(`\` + hexByte(x))
					}
					f.WriteString(")")
				}
				f.WriteString(")")
				_, err = c.Search(ctx, ldap.NewSearchRequest(d.domainDN, ldap.ScopeWholeSubtree, 0, 0, 0, false, f.String(), []string{"dn"}, nil))
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b, d, ops)
	})
}

func hexByte(x byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[x>>4], digits[x&0xf]})
}
