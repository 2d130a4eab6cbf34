package signin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// A remembered device lets a user skip the second factor on one browser
// for sessions.remember_device. The browser holds a random token; the store
// holds only its hash (credential type DeviceType), so a password reset can
// forget every device with DeleteUserCredentials(user, DeviceType).
//
// It stays honest: a session started on a remembered device records when
// the second factor was really used, so an app that wants a recent one
// (mfa_max_age, wfresh) still asks for it.

// DeviceType is the credential type of remembered devices.
const DeviceType = "device"

type deviceData struct {
	MFAAt     time.Time `json:"mfa_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Methods   []string  `json:"methods"`
	// UserAgent (as the browser sent it when remembered, capped) and IP
	// (the address of its last use) let /account name the browser.
	UserAgent string `json:"user_agent,omitempty"`
	IP        string `json:"ip,omitempty"`
}

// maxUserAgent caps the user agent kept: enough to tell the browser and
// its system, never a way to fill the store.
const maxUserAgent = 512

func (ss *Sessions) deviceCookie() string { return ss.cookieName("gh_device") }

func deviceKey(token string) string {
	s := sha256.Sum256([]byte("gh-device\x00" + token))
	return hex.EncodeToString(s[:])
}

// rememberedMFA returns when the user last passed a second factor on this
// browser, if the browser is remembered for this user.
func (ss *Sessions) rememberedMFA(ctx context.Context, r *http.Request, userID string) (deviceData, bool) {
	if ss.cfg.RememberDevice <= 0 {
		return deviceData{}, false
	}
	c, err := r.Cookie(ss.deviceCookie())
	if err != nil || len(c.Value) < 32 || len(c.Value) > 64 {
		return deviceData{}, false
	}
	cred, err := ss.store.GetCredentialByLookupKey(ctx, DeviceType, deviceKey(c.Value))
	if err != nil || cred.UserID != userID {
		return deviceData{}, false
	}
	var d deviceData
	if err := json.Unmarshal(cred.Data, &d); err != nil || !ss.now().Before(d.ExpiresAt) {
		return deviceData{}, false
	}
	ss.usedDevice(ctx, cred.ID)
	return d, true
}

// usedDevice records a remembered browser's use (when and from where) for
// the user's list on /account. A failure is logged: the sign-in goes on.
func (ss *Sessions) usedDevice(ctx context.Context, id string) {
	now, ip := ss.now(), observe.ClientIP(ctx)
	_, err := ss.store.UpdateCredential(ctx, id, func(c store.Credential) (store.Credential, error) {
		var d deviceData
		if err := json.Unmarshal(c.Data, &d); err != nil {
			return c, err
		}
		d.IP = ip
		raw, err := json.Marshal(d)
		if err != nil {
			return c, err
		}
		c.Data, c.LastUsedAt = raw, now
		return c, nil
	})
	if err != nil {
		ss.log.WarnContext(ctx, "recording the use of a remembered browser", "err", err)
	}
}

// remember stores the browser of r as remembered for the user.
func (ss *Sessions) remember(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string, mfaAt time.Time, methods []string) error {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	now := ss.now()
	d, _ := json.Marshal(deviceData{MFAAt: mfaAt, ExpiresAt: now.Add(ss.cfg.RememberDevice), Methods: methods,
		UserAgent: strings.ToValidUTF8(truncate(r.UserAgent(), maxUserAgent), ""), IP: observe.ClientIP(ctx)})
	err := ss.store.CreateCredential(ctx, store.Credential{
		ID: newID(), UserID: userID, Type: DeviceType, LookupKey: deviceKey(token),
		Data: d, CreatedAt: now, LastUsedAt: now,
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		return err
	}
	ss.setCookie(w, ss.deviceCookie(), token, ss.cfg.RememberDevice)
	return nil
}

// ForgetDevices removes every remembered browser of a user (after a
// password reset or when the user asks).
func (ss *Sessions) ForgetDevices(ctx context.Context, userID string) error {
	_, err := ss.store.DeleteUserCredentials(ctx, userID, DeviceType)
	return err
}

// RememberedBrowser is a browser remembered for a user, as /account lists
// it.
type RememberedBrowser struct {
	ID string
	// UserAgent is what the browser sent when it was remembered.
	UserAgent string
	// IP is the address of its last use.
	IP                               string
	CreatedAt, LastUsedAt, ExpiresAt time.Time
	// Current: the browser of the request that asked.
	Current bool
}

// RememberedBrowsers lists the user's remembered browsers that still
// count, oldest first.
func (ss *Sessions) RememberedBrowsers(ctx context.Context, r *http.Request, userID string) ([]RememberedBrowser, error) {
	creds, err := ss.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	current := ""
	if c, err := r.Cookie(ss.deviceCookie()); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		current = deviceKey(c.Value)
	}
	now := ss.now()
	var out []RememberedBrowser
	for _, c := range creds {
		var d deviceData
		if c.Type != DeviceType || json.Unmarshal(c.Data, &d) != nil || !now.Before(d.ExpiresAt) {
			continue
		}
		out = append(out, RememberedBrowser{ID: c.ID, UserAgent: d.UserAgent, IP: d.IP, CreatedAt: c.CreatedAt,
			LastUsedAt: c.LastUsedAt, ExpiresAt: d.ExpiresAt, Current: current != "" && c.LookupKey == current})
	}
	return out, nil
}

// ForgetBrowser forgets one of the user's remembered browsers; it returns
// store.ErrNotFound when id is none of theirs.
func (ss *Sessions) ForgetBrowser(ctx context.Context, userID, id string) error {
	c, err := ss.store.GetCredential(ctx, id)
	if err != nil {
		return err
	}
	if c.UserID != userID || c.Type != DeviceType {
		return store.ErrNotFound
	}
	return ss.store.DeleteCredential(ctx, id)
}
