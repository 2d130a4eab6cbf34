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
	"time"

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
}

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
	return d, true
}

// remember stores this browser as remembered for the user.
func (ss *Sessions) remember(ctx context.Context, w http.ResponseWriter, userID string, mfaAt time.Time, methods []string) error {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	now := ss.now()
	d, _ := json.Marshal(deviceData{MFAAt: mfaAt, ExpiresAt: now.Add(ss.cfg.RememberDevice), Methods: methods})
	err := ss.store.CreateCredential(ctx, store.Credential{
		ID: newID(), UserID: userID, Type: DeviceType, Name: "remembered browser", LookupKey: deviceKey(token),
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
