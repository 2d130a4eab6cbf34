package signin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// endings records what OnEnd hears.
type endings struct {
	mu  sync.Mutex
	got []Ended
}

func (en *endings) hear(_ context.Context, e Ended) {
	en.mu.Lock()
	defer en.mu.Unlock()
	en.got = append(en.got, e)
}

func (en *endings) all() []Ended {
	en.mu.Lock()
	defer en.mu.Unlock()
	return slices.Clone(en.got)
}

// liveSessions is the user's sessions and their SIDs.
func liveSessions(t *testing.T, e *env, name string) (ids, sids []string) {
	t.Helper()
	ss, err := e.store.ListUserSessions(context.Background(), fmt.Sprintf("%032x", name), e.clock())
	if err != nil {
		t.Fatal(err)
	}
	for i := range ss {
		ids, sids = append(ids, ss[i].ID), append(sids, sidOf(&ss[i]))
	}
	return ids, sids
}

func TestASignInKeepsItsSIDThroughAStepUpAndTellsWhenItEnds(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil), user(t, "bob", alicePW, nil))
	e.factors.enrolled[fmt.Sprintf("%032x", "alice")] = []string{"totp"}
	var en endings
	e.engine.sessions.OnEnd(en.hear)
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice")
	b.Submit(map[string]string{"password": alicePW})
	first, sids := liveSessions(t, e, "alice")
	if len(first) != 1 || sids[0] == "" || sids[0] == first[0] {
		t.Fatalf("sessions %v with SIDs %v: want one with a SID of its own", first, sids)
	}
	sid := sids[0]

	// A step-up replaces the session; the sign-in goes on.
	b.Get("/proto?app=Strict")
	if got := b.Submit(map[string]string{"code": "123456"}); !strings.Contains(got, "mfa=yes") {
		t.Fatalf("step-up: %q", got)
	}
	second, sids := liveSessions(t, e, "alice")
	if len(second) != 1 || second[0] == first[0] || sids[0] != sid {
		t.Fatalf("after the step-up: sessions %v (before %v), SIDs %v, want a new session with SID %s", second, first, sids, sid)
	}
	if got := en.all(); len(got) != 0 {
		t.Fatalf("a step-up was heard as an end: %+v", got)
	}

	// Sign-out ends it.
	b.Get("/logout")
	b.Submit(nil)
	want := Ended{UserID: fmt.Sprintf("%032x", "alice"), SIDs: []string{sid}}
	if got := en.all(); len(got) != 1 || !sameEnded(got[0], want) {
		t.Fatalf("OnEnd heard %+v, want %+v", got, want)
	}

	// Bob signing in where alice is ends alice's sign-in, and gets his own.
	b.Get("/proto?app=Wiki&hint=alice")
	b.Submit(map[string]string{"password": alicePW})
	_, aliceSIDs := liveSessions(t, e, "alice")
	b.Get("/proto?app=Wiki&hint=bob&fresh=1")
	b.Submit(map[string]string{"password": alicePW})
	_, bobSIDs := liveSessions(t, e, "bob")
	got := en.all()
	if len(got) != 2 || !sameEnded(got[1], Ended{UserID: fmt.Sprintf("%032x", "alice"), SIDs: aliceSIDs}) ||
		len(bobSIDs) != 1 || bobSIDs[0] == aliceSIDs[0] {
		t.Fatalf("after bob's sign-in over alice's: heard %+v; alice's SIDs %v, bob's %v", got, aliceSIDs, bobSIDs)
	}

	// Ending all of a user's sessions says so.
	if _, err := e.engine.sessions.EndAll(context.Background(), fmt.Sprintf("%032x", "bob")); err != nil {
		t.Fatal(err)
	}
	got = en.all()
	if len(got) != 3 || !sameEnded(got[2], Ended{UserID: fmt.Sprintf("%032x", "bob"), SIDs: bobSIDs, All: true}) {
		t.Fatalf("EndAll was heard as %+v", got)
	}
}

func sameEnded(a, b Ended) bool {
	return a.UserID == b.UserID && slices.Equal(a.SIDs, b.SIDs) && a.All == b.All && a.Keep == b.Keep
}

// A session from before SIDs were kept answers with its ID as its SID.
func TestASessionWithoutASIDUsesItsID(t *testing.T) {
	s := store.Session{ID: "abc", Data: []byte(`{"user":{"ID":"u"}}`)}
	if got := sidOf(&s); got != "abc" {
		t.Fatalf("sidOf = %q", got)
	}
}
