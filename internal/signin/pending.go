package signin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// ErrPendingGone means a kept request is missing, expired, used up or of
// another protocol: only the application can send a good one again.
var ErrPendingGone = errors.New("signin: the kept request is gone")

// DefaultPendingFor is how long a kept request waits for its GET.
const DefaultPendingFor = 5 * time.Minute

// KeepPending keeps a protocol request that arrived by a cross-site POST
// (SAML HTTP-POST, a form_post authorization request) in the bounded flow
// store, for the GET on this site the browser is redirected to: such a POST
// carries no SameSite=Lax cookie, so the session is only seen on that GET.
// v is stored as JSON under kind; the returned id goes in the redirect. A
// store at its bound answers as creating a sign-in flow does (503).
func KeepPending(ctx context.Context, flows store.Flows, kind string, v any, now time.Time, ttl time.Duration) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	if ttl <= 0 {
		ttl = DefaultPendingFor
	}
	id := newID()
	if err := CreateFlowError(flows.CreateFlow(ctx, store.Flow{ID: id, Kind: kind, Data: data, CreatedAt: now, ExpiresAt: now.Add(ttl)})); err != nil {
		return "", err
	}
	return id, nil
}

// TakePending loads the request KeepPending kept as id under kind into v
// and uses it up, so a reload of the address runs nothing twice. It
// returns ErrPendingGone for an id that is not (or no longer) such a
// request.
func TakePending(ctx context.Context, flows store.Flows, kind, id string, now time.Time, v any) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: a malformed id", ErrPendingGone)
	}
	f, err := flows.GetFlow(ctx, id, now)
	if err == nil && f.Kind != kind {
		err = store.ErrNotFound
	}
	if err == nil {
		err = flows.DeleteFlow(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return ErrPendingGone
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(f.Data, v)
}
