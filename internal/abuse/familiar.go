package abuse

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// A familiar browser holds a random token the engine keeps in a cookie
// after every successful sign-in (whether or not the user asked to be
// remembered); the store holds only its hash, as a credential of type
// "familiar" bound to the user. It proves nothing on its own — the password
// is still checked — it only gives the browser a budget of its own.

// maxFamiliarDevices is how many familiar browsers a user keeps; the least
// recently used go first.
const maxFamiliarDevices = 10

// familiarRefresh is how stale a familiar browser's last use may get
// before a sign-in writes its new expiry.
const familiarRefresh = time.Hour

type familiarData struct {
	ExpiresAt time.Time `json:"expires_at"`
}

// device is what a presented token turned out to be.
type device struct {
	user string // "" when the token names no live familiar browser
	hash string
}

func deviceHash(token string) string {
	s := sha256.Sum256([]byte("gh-familiar\x00" + token))
	return hex.EncodeToString(s[:])
}

// validToken reports whether token has the shape RememberClient makes.
func validToken(token string) bool { return len(token) >= 32 && len(token) <= 64 }

// deviceOf looks a presented token up.
func (g *Guard) deviceOf(ctx context.Context, token string, now time.Time) (device, error) {
	if g.lim.FamiliarFor <= 0 || !validToken(token) {
		return device{}, nil
	}
	h := deviceHash(token)
	c, err := g.store.GetCredentialByLookupKey(ctx, keyFamiliarDevice, h)
	if errors.Is(err, store.ErrNotFound) {
		return device{}, nil
	}
	if err != nil {
		return device{}, fmt.Errorf("abuse: familiar browser: %w", err)
	}
	var d familiarData
	if json.Unmarshal(c.Data, &d) != nil || !now.Before(d.ExpiresAt) {
		return device{}, nil
	}
	return device{user: c.UserID, hash: h}, nil
}

// FamiliarFor is how long a familiar browser's token lives: the cookie's
// lifetime. Zero when familiar clients are off.
func (g *Guard) FamiliarFor() time.Duration { return g.lim.FamiliarFor }

// RememberClient makes the browser that holds token (may be "") familiar
// for userID after a successful sign-in, and returns the token the browser
// should hold from now on: token itself when it already names this user
// (its life is extended), a new one otherwise. It returns "" when familiar
// clients are off.
func (g *Guard) RememberClient(ctx context.Context, userID, token string) (string, error) {
	if g.lim.FamiliarFor <= 0 || userID == "" {
		return "", nil
	}
	now := g.now()
	data, _ := json.Marshal(familiarData{ExpiresAt: now.Add(g.lim.FamiliarFor)})
	if validToken(token) {
		c, err := g.store.GetCredentialByLookupKey(ctx, keyFamiliarDevice, deviceHash(token))
		switch {
		case err == nil && c.UserID == userID:
			if now.Sub(c.LastUsedAt) < familiarRefresh {
				return token, nil
			}
			_, err := g.store.UpdateCredential(ctx, c.ID, func(c store.Credential) (store.Credential, error) {
				c.Data, c.LastUsedAt = data, now
				return c, nil
			})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", fmt.Errorf("abuse: familiar browser: %w", err)
			}
			if err == nil {
				return token, nil
			}
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return "", fmt.Errorf("abuse: familiar browser: %w", err)
		}
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("abuse: randomness: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	if err := g.store.CreateCredential(ctx, store.Credential{
		ID: "fam-" + hex.EncodeToString(id), UserID: userID, Type: keyFamiliarDevice, Name: "familiar browser",
		LookupKey: deviceHash(token), Data: data, CreatedAt: now, LastUsedAt: now,
	}); err != nil {
		return "", fmt.Errorf("abuse: familiar browser: %w", err)
	}
	g.pruneDevices(ctx, userID)
	return token, nil
}

// pruneDevices keeps the user's maxFamiliarDevices most recently used
// familiar browsers.
func (g *Guard) pruneDevices(ctx context.Context, userID string) {
	all, err := g.store.ListCredentials(ctx, userID)
	if err != nil {
		g.log.ErrorContext(ctx, "listing familiar browsers", "event", "abuse", "err", err)
		return
	}
	var fam []store.Credential
	for _, c := range all {
		if c.Type == keyFamiliarDevice {
			fam = append(fam, c)
		}
	}
	if len(fam) <= maxFamiliarDevices {
		return
	}
	slices.SortFunc(fam, func(a, b store.Credential) int { return b.LastUsedAt.Compare(a.LastUsedAt) })
	for _, c := range fam[maxFamiliarDevices:] {
		if err := g.store.DeleteCredential(ctx, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			g.log.ErrorContext(ctx, "forgetting a familiar browser", "event", "abuse", "err", err)
		}
	}
}

// ForgetClients forgets every familiar browser of the user (an
// administrator's "sessions revoke", say). Familiar addresses expire on
// their own.
func (g *Guard) ForgetClients(ctx context.Context, userID string) error {
	if _, err := g.store.DeleteUserCredentials(ctx, userID, keyFamiliarDevice); err != nil {
		return fmt.Errorf("abuse: forget familiar browsers: %w", err)
	}
	return nil
}
