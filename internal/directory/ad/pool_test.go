package ad

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPool(t *testing.T) {
	ctx := context.Background()
	f := &fakeDC{name: "dc1"}
	dials := 0
	dial := func(context.Context) (ldapConn, error) { dials++; return &fakeConn{dc: f}, nil }
	p := newPool(2, func() {})

	t.Run("a returned connection is reused", func(t *testing.T) {
		c, _ := p.get(ctx, dial)
		p.put(c, true)
		c2, _ := p.get(ctx, dial)
		if c2 != c || dials != 1 {
			t.Errorf("not reused (%d dials)", dials)
		}
		p.put(c2, true)
	})
	t.Run("a connection idle too long is closed, not reused", func(t *testing.T) {
		p.mu.Lock()
		p.idle[0].since = time.Now().Add(-maxIdle - time.Second)
		old := p.idle[0].c
		p.mu.Unlock()
		c, _ := p.get(ctx, dial)
		if c == old || old.Usable() {
			t.Error("a stale connection was reused or left open")
		}
		p.put(c, true)
	})
	t.Run("a broken connection is not kept", func(t *testing.T) {
		c, _ := p.get(ctx, dial)
		p.put(c, false)
		if c.Usable() || p.size() != 0 {
			t.Errorf("kept: usable=%v size=%d", c.Usable(), p.size())
		}
	})
	t.Run("a full pool makes the caller wait, within its deadline", func(t *testing.T) {
		a, _ := p.get(ctx, dial)
		b, _ := p.get(ctx, dial)
		wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := p.get(wctx, dial); !errors.Is(err, errPoolWait) {
			t.Errorf("got %v, want errPoolWait", err)
		}
		p.put(a, true)
		p.put(b, true)
		if p.size() != 2 {
			t.Errorf("size = %d", p.size())
		}
	})
	t.Run("after a final drain nothing is kept", func(t *testing.T) {
		p.drain(true)
		c, _ := p.get(ctx, dial)
		p.put(c, true)
		if c.Usable() || p.size() != 0 {
			t.Errorf("kept after close: size=%d", p.size())
		}
	})
}
