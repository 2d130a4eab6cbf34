package saml

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTicketReplayCacheRemembersEachKeyOnce(t *testing.T) {
	f := newInFixture(t)
	c := f.p.Replay
	ctx := context.Background()
	until := inT0.Add(time.Hour)
	if err := c.Remember(ctx, "sp\x00_a", until); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := c.Remember(ctx, "sp\x00_a", until); !errors.Is(err, ErrReplay) {
		t.Fatalf("second use: %v, want ErrReplay", err)
	}
	if err := c.Remember(ctx, "sp\x00_b", until); err != nil {
		t.Fatalf("another key: %v", err)
	}
	long := strings.Repeat("x", 64<<10)
	if err := c.Remember(ctx, long, until); err != nil {
		t.Fatalf("a long key: %v", err)
	}
	t.Run("the ticket is stored under the key's SHA-256 until the instant", func(t *testing.T) {
		sum := sha256.Sum256([]byte("sp\x00_a"))
		tk, err := f.store.ConsumeTicket(ctx, TicketKindReplay, hex.EncodeToString(sum[:]), inT0)
		if err != nil {
			t.Fatal(err)
		}
		if !tk.ExpiresAt.Equal(until) || !tk.CreatedAt.Equal(inT0) {
			t.Fatalf("ticket %+v", tk)
		}
	})
	t.Run("a key past its instant but not collected is still a replay", func(t *testing.T) {
		if err := c.Remember(ctx, "sp\x00_old", inT0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := c.Remember(ctx, "sp\x00_old", inT0.Add(time.Hour)); !errors.Is(err, ErrReplay) {
			t.Fatalf("error %v, want ErrReplay", err)
		}
	})
}

func TestOfConcurrentUsesOfOneKeyExactlyOneWins(t *testing.T) {
	f := newInFixture(t)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f.p.Replay.Remember(context.Background(), "sp\x00_race", inT0.Add(time.Hour))
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrReplay):
			t.Fatalf("error %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d uses won, want exactly one", won, n)
	}
}

func TestConcurrentReplaysOfOneRequestAcceptExactlyOne(t *testing.T) {
	f := newInFixture(t)
	doc := []byte(inMsg{ID: "_race", Issuer: inWikiID}.xml(""))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		r := postReq(ParamRequest, doc, nil)
		wg.Go(func() { _, errs[i] = f.p.AuthnRequest(context.Background(), r) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if !errors.Is(err, ErrReplay) {
			t.Fatalf("error %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d requests accepted, want exactly one", won, n)
	}
}
