package observe

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestConcurrentAddsToAPhaseAllCount(t *testing.T) {
	ctx, tm := WithTimings(context.Background())
	if TimingsFrom(ctx) != tm {
		t.Fatal("TimingsFrom does not return the accumulator WithTimings installed")
	}
	const workers, adds = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range adds {
				TimingsFrom(ctx).Add(PhaseStore, time.Microsecond)
				if w%2 == 0 {
					TimingsFrom(ctx).Add(PhaseDirectory, 2*time.Microsecond)
				}
				stop := Start(ctx, PhaseSigning)
				stop()
			}
		})
	}
	wg.Wait()
	got := tm.Snapshot()
	if len(got) != 3 {
		t.Fatalf("want 3 phases, got %+v", got)
	}
	want := []PhaseTime{
		{PhaseDirectory, workers / 2 * adds * 2 * time.Microsecond},
		{PhaseStore, workers * adds * time.Microsecond},
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("phase %d: got %+v, want %+v", i, got[i], w)
		}
	}
	if got[2].Phase != PhaseSigning || got[2].Duration < 0 {
		t.Errorf("phase 2: got %+v, want a non-negative signing time", got[2])
	}
}

func TestSnapshotPutsTheKnownPhasesFirstInAFixedOrder(t *testing.T) {
	_, tm := WithTimings(context.Background())
	for _, p := range []string{"cache", PhaseSigning, "render", PhaseStore, PhaseDirectory} {
		tm.Add(p, time.Millisecond)
	}
	tm.Add(PhaseStore, time.Millisecond)
	var names []string
	for _, p := range tm.Snapshot() {
		names = append(names, p.Phase)
	}
	want := []string{PhaseDirectory, PhaseStore, PhaseSigning, "cache", "render"}
	if len(names) != len(want) {
		t.Fatalf("got %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("got %v, want %v", names, want)
		}
	}
	if got := tm.Snapshot()[1].Duration; got != 2*time.Millisecond {
		t.Errorf("store: got %v, want the two adds summed (2ms)", got)
	}
}

func TestWithoutAnAccumulatorTimingIsANoOp(t *testing.T) {
	ctx := context.Background()
	if TimingsFrom(ctx) != nil {
		t.Fatal("an accumulator out of nowhere")
	}
	Start(ctx, PhaseStore)()     // must not panic
	TimingsFrom(ctx).Add("x", 1) // nor this
	if s := TimingsFrom(ctx).Snapshot(); s != nil {
		t.Errorf("nil accumulator snapshot: %v", s)
	}
	if n := testing.AllocsPerRun(100, func() { Start(ctx, PhaseStore)() }); n != 0 {
		t.Errorf("Start without an accumulator allocates %v times", n)
	}
}
