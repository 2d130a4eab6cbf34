package saml

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// ReplayCache remembers the IDs of messages already accepted.
type ReplayCache interface {
	// Remember records key until the instant until. It returns an error
	// wrapping ErrReplay when key is already recorded; of many concurrent
	// calls with one key exactly one succeeds.
	Remember(ctx context.Context, key string, until time.Time) error
}

// TicketKindReplay is the store.Ticket kind of remembered message IDs.
const TicketKindReplay = "saml.replay"

// TicketReplayCache is a ReplayCache over the store's single-use tickets,
// so that every Gatehouse instance sharing the store sees every ID. The
// store's garbage collection forgets a key after its instant.
type TicketReplayCache struct {
	Tickets store.Tickets
	// Now stamps the ticket's creation; nil means time.Now.
	Now func() time.Time
}

// Remember creates a ticket whose ID is the SHA-256 of key (keys hold
// attacker-chosen request IDs of any length). A ticket already there,
// even one past its instant and not yet collected, is a replay.
func (c TicketReplayCache) Remember(ctx context.Context, key string, until time.Time) error {
	sum := sha256.Sum256([]byte(key))
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	err := c.Tickets.CreateTicket(ctx, store.Ticket{
		Kind: TicketKindReplay, ID: hex.EncodeToString(sum[:]), CreatedAt: now(), ExpiresAt: until,
	})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: message ID already used", ErrReplay)
	}
	if err != nil {
		return fmt.Errorf("saml: replay cache: %w", err)
	}
	return nil
}

// replayKey is the cache key of a message: the SP's entity ID and the
// message's ID, unambiguously joined (an entity ID holds no NUL).
func replayKey(sp *ServiceProvider, id string) string {
	return sp.EntityID + "\x00" + id
}
