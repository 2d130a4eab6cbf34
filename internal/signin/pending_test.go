package signin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/memflows"
)

func TestAKeptRequestIsTakenOnceByItsKindBeforeItExpires(t *testing.T) {
	ctx := context.Background()
	flows := memflows.New()
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	type req struct{ ID string }
	id, err := KeepPending(ctx, flows, "saml.pending", req{ID: "_r1"}, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var other req
	if err := TakePending(ctx, flows, "oidc.pending", id, t0, &other); !errors.Is(err, ErrPendingGone) {
		t.Errorf("another protocol's kind took it: %v", err)
	}
	var got req
	if err := TakePending(ctx, flows, "saml.pending", id, t0, &got); err != nil || got.ID != "_r1" {
		t.Fatalf("took %+v, %v", got, err)
	}
	if err := TakePending(ctx, flows, "saml.pending", id, t0, &got); !errors.Is(err, ErrPendingGone) {
		t.Errorf("taken twice: %v", err)
	}
	id, _ = KeepPending(ctx, flows, "saml.pending", req{ID: "_r2"}, t0, time.Minute)
	if err := TakePending(ctx, flows, "saml.pending", id, t0.Add(2*time.Minute), &got); !errors.Is(err, ErrPendingGone) {
		t.Errorf("taken after it expired: %v", err)
	}
	if err := TakePending(ctx, flows, "saml.pending", string(make([]byte, 65)), t0, &got); !errors.Is(err, ErrPendingGone) {
		t.Errorf("an oversized id: %v", err)
	}
}

func TestAFullFlowStoreRefusesToKeepARequestAsItRefusesASignIn(t *testing.T) {
	_, err := KeepPending(context.Background(), fullFlows{}, "saml.pending", struct{}{}, time.Now(), 0)
	if !errors.Is(err, store.ErrCapacity) {
		t.Fatalf("%v", err)
	}
}
