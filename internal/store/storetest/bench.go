package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Bench measures the session operations of a signed-in request against s,
// one sub-benchmark each: SessionCreate (a sign-in), SessionGet (every
// request with the cookie) and SessionUpdate (the idle-timeout refresh, a
// compare-and-swap). A backend calls it from its own bench_test.go, so the
// backends are compared on the same work.
func Bench(b *testing.B, s store.Store) {
	b.Run("SessionCreate", func(b *testing.B) {
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			if err := s.CreateSession(ctx, newSession(uid("bench-user"))); err != nil {
				b.Fatalf("CreateSession: %v", err)
			}
		}
	})
	b.Run("SessionGet", func(b *testing.B) {
		ctx := b.Context()
		sess := newSession(uid("bench-user"))
		if err := s.CreateSession(ctx, sess); err != nil {
			b.Fatalf("CreateSession: %v", err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetSession(ctx, sess.ID, t0); err != nil {
				b.Fatalf("GetSession: %v", err)
			}
		}
	})
	b.Run("SessionUpdate", func(b *testing.B) {
		ctx := b.Context()
		sess := newSession(uid("bench-user"))
		if err := s.CreateSession(ctx, sess); err != nil {
			b.Fatalf("CreateSession: %v", err)
		}
		touch := func(v store.Session) (store.Session, error) {
			v.LastSeenAt = v.LastSeenAt.Add(time.Second)
			v.IdleExpiry = v.LastSeenAt.Add(30 * time.Minute)
			return v, nil
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.UpdateSession(ctx, sess.ID, touch); err != nil {
				b.Fatalf("UpdateSession: %v", err)
			}
		}
	})
}
