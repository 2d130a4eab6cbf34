package signin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// SessionStore is what sessions need of the store: the sessions, and the
// credentials that remember browsers.
type SessionStore interface {
	store.Sessions
	store.Credentials
}

// SessionOptions are the collaborators of Sessions.
type SessionOptions struct {
	Config config.Sessions
	Store  SessionStore
	// Directory is asked whether a session's account still stands
	// (directory.IDLookup); nil or one without it is never asked.
	Directory directory.Directory
	// Secure: the issuer is HTTPS, so cookies are Secure and __Host-.
	Secure bool
	Audit  *audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
	// Secrets seals the SessionIndexes of SAML assertions
	// (participants.go), so a LogoutRequest that arrives without the
	// browser's cookie can find its session. Nil: random SessionIndexes,
	// and such a request ends nothing.
	Secrets *secrets.Box
}

// Sessions issues, reads and ends browser sessions and remembered
// browsers, and keeps a session in step with the directory (recheck.go).
// It knows nothing of flows, factors or protocols.
type Sessions struct {
	cfg   config.Sessions
	store SessionStore
	dir   directory.Directory
	audit *audit.Recorder
	log   *slog.Logger
	now   func() time.Time
	cookies
	// rechecks holds the directory's latest word per user (recheck.go).
	rechecks *recheckCache
	// onEnd hears of sign-ins that end (OnEnd); nil: no one listens.
	onEnd func(context.Context, Ended)
	// indexBox seals SessionIndexes (participants.go); nil without Secrets.
	indexBox *secrets.Box
}

// Ended is sign-ins of one user that ended.
type Ended struct {
	UserID string
	// SIDs are the sign-ins that ended (Result.SID).
	SIDs []string
	// All: every sign-in of the user ended but Keep's (a password reset or
	// change, a removed factor, an administrator, an account the directory
	// withdrew): what was issued to last without a session (offline
	// refresh tokens) ends too.
	All  bool
	Keep string
}

// OnEnd registers fn to hear of sign-ins that end by an act — a sign-out,
// a password reset or change, a removed factor, an administrator, the
// directory's word — not of a session that timed out, nor of one a new
// sign-in of the same user in the same browser replaced (its SID goes on).
// fn runs in the request that ended them, after they are gone: it must
// not wait on the network. Register before serving.
func (ss *Sessions) OnEnd(fn func(context.Context, Ended)) { ss.onEnd = fn }

// ended tells OnEnd's listener of e.
func (ss *Sessions) ended(ctx context.Context, e Ended) {
	if ss.onEnd != nil && e.UserID != "" && (len(e.SIDs) > 0 || e.All) {
		ss.onEnd(context.WithoutCancel(ctx), e)
	}
}

// ending lists, before they are ended, the user's sign-ins but keep's
// (a session ID; "" for none), for OnEnd; nothing when no one listens.
func (ss *Sessions) ending(ctx context.Context, userID, keep string) Ended {
	e := Ended{UserID: userID, All: true}
	if ss.onEnd == nil {
		return Ended{}
	}
	live, err := ss.store.ListUserSessions(ctx, userID, ss.now())
	if err != nil {
		ss.log.WarnContext(ctx, "listing the sessions that end", "err", err)
	}
	for i := range live {
		if live[i].ID == keep {
			e.Keep = sidOf(&live[i])
			continue
		}
		e.SIDs = append(e.SIDs, sidOf(&live[i]))
	}
	return e
}

// continuedSID is the SID of a new session of userID in the browser of r:
// the SID of the session it replaces (the browser's, else prior, a
// step-up's) when that is the same user's, else a new one.
func (ss *Sessions) continuedSID(ctx context.Context, r *http.Request, prior, userID string) string {
	if c, err := r.Cookie(ss.sessionCookie()); err == nil && c.Value != "" && len(c.Value) <= 64 {
		prior = sessionKey(c.Value)
	}
	if prior != "" {
		if s, err := ss.store.GetSession(ctx, prior, ss.now()); err == nil && s.UserID == userID {
			return sidOf(&s)
		}
	}
	return newID()
}

// NewSessions builds the session keeper.
func NewSessions(o SessionOptions) *Sessions {
	ss := &Sessions{cfg: o.Config, store: o.Store, dir: o.Directory, audit: o.Audit, log: o.Logger, now: o.Now,
		cookies: cookies{secure: o.Secure}, rechecks: newRecheckCache(recheckCacheSize, recheckCacheBytes),
		indexBox: newIndexBox(o.Secrets)}
	if ss.now == nil {
		ss.now = time.Now
	}
	return ss
}

// cookies names and sets Gatehouse's cookies; the __Host- prefix pins them
// to this host over HTTPS.
type cookies struct{ secure bool }

// RemembersBrowsers reports whether "remember this browser" is on.
func (ss *Sessions) RemembersBrowsers() bool { return ss.cfg.RememberDevice > 0 }

// Cookie names; the __Host- prefix pins them to this host over HTTPS.
func (ck cookies) cookieName(base string) string {
	if ck.secure {
		return "__Host-" + base
	}
	return base
}

func (ss *Sessions) sessionCookie() string { return ss.cookieName("gh_session") }

func (ck cookies) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	// Secure is false only when the issuer is plain-HTTP localhost (the
	// demo); config refuses plain HTTP anywhere else.
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: ck.secure, SameSite: http.SameSiteLaxMode} // #nosec G124 -- see above.
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge.Seconds())
	}
	http.SetCookie(w, c)
}

// currentSession returns the browser's live session, touching its idle
// expiry. The touch is a write, so it is skipped while the last one is
// recent (touchEvery): an SSO sign-in then costs a read, not a write, and
// the idle expiry errs early by at most that much. A session the directory
// no longer backs is ended here (followsDirectory), for every user of it.
func (ss *Sessions) currentSession(ctx context.Context, r *http.Request) (*store.Session, *sessionData) {
	c, err := r.Cookie(ss.sessionCookie())
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return nil, nil
	}
	now := ss.now()
	key := sessionKey(c.Value)
	s, err := ss.store.GetSession(ctx, key, now)
	if err == nil && now.Sub(s.LastSeenAt) >= ss.touchEvery() {
		s, err = ss.store.UpdateSession(ctx, key, func(s store.Session) (store.Session, error) {
			if !now.Before(s.ExpiresAt) || !now.Before(s.IdleExpiry) {
				return s, store.ErrNotFound
			}
			s.LastSeenAt = now
			s.IdleExpiry = minTime(now.Add(ss.cfg.IdleTimeout), s.ExpiresAt)
			return s, nil
		})
	}
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			ss.log.ErrorContext(ctx, "reading session", "err", err)
		}
		return nil, nil
	}
	var sd sessionData
	if err := json.Unmarshal(s.Data, &sd); err != nil {
		ss.log.ErrorContext(ctx, "session data unreadable", "err", err)
		return nil, nil
	}
	if !ss.followsDirectory(ctx, &s, &sd) {
		return nil, nil
	}
	return &s, &sd
}

// touchEvery is how stale a session's last-seen time may get before a
// request writes it again.
func (ss *Sessions) touchEvery() time.Duration {
	return min(time.Minute, ss.cfg.IdleTimeout/10)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// SignOut ends the browser's session, if any, and clears the cookie. It
// returns the ended session's user ID.
func (ss *Sessions) SignOut(w http.ResponseWriter, r *http.Request) string {
	ctx := r.Context()
	c, err := r.Cookie(ss.sessionCookie())
	if err != nil || c.Value == "" {
		return ""
	}
	var (
		userID string
		ended  Ended
	)
	key := sessionKey(c.Value)
	if s, err := ss.store.GetSession(ctx, key, ss.now()); err == nil {
		userID = s.UserID
		ended = Ended{UserID: s.UserID, SIDs: []string{sidOf(&s)}}
		ss.audit.Record(ctx, audit.Event{Type: audit.SignOut, UserID: s.UserID, Login: s.Login, Result: "ok"})
	}
	if err := ss.store.DeleteSession(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
		ss.log.ErrorContext(ctx, "ending session", "err", err)
	}
	ss.setCookie(w, ss.sessionCookie(), "", -1)
	ss.ended(ctx, ended)
	return userID
}

// CurrentUser returns the signed-in user of the request, or nil.
func (ss *Sessions) CurrentUser(r *http.Request) (*Result, bool) {
	s, sd := ss.currentSession(r.Context(), r)
	if s == nil {
		return nil, false
	}
	return sessionResult(s, sd), true
}

// sessionResult is a session as a Result.
func sessionResult(s *store.Session, sd *sessionData) *Result {
	sid := sd.SID
	if sid == "" {
		sid = s.ID
	}
	return &Result{SessionID: s.ID, SID: sid, User: sd.User, AuthTime: s.AuthTime, MFATime: s.MFATime, Methods: s.Methods,
		factors: sd.Factors, remembered: sd.Remembered}
}

// sessionKey is what the store keeps for a session cookie: its SHA-256, so
// a copy of the database holds no usable session.
func sessionKey(token string) string {
	sum := sha256.Sum256([]byte("gh-session\x00" + token))
	return hex.EncodeToString(sum[:])
}

// get returns a live session by id.
func (ss *Sessions) get(ctx context.Context, id string) (store.Session, error) {
	return ss.store.GetSession(ctx, id, ss.now())
}

// newSession is a session for u, not stored yet, and the token its cookie
// will hold (the store keeps only the token's hash). data carries what the
// flow proved beyond the fields; its user and password basis are set here.
func (ss *Sessions) newSession(u *directory.User, login string, methods []string, authTime, mfaTime time.Time, data sessionData) (store.Session, string, error) {
	now := ss.now()
	data.User, data.PwdLastSet = *u, u.State.PasswordLastSet
	raw, err := json.Marshal(data)
	if err != nil {
		return store.Session{}, "", err
	}
	token := newID()
	return store.Session{
		ID: sessionKey(token), UserID: u.ID, Login: login, Methods: methods,
		AuthTime: authTime, MFATime: mfaTime, CreatedAt: now, LastSeenAt: now,
		IdleExpiry: now.Add(ss.cfg.IdleTimeout), ExpiresAt: now.Add(ss.cfg.AbsoluteTimeout), Data: raw,
	}, token, nil
}

// start stores session s, gives the browser its cookie (token) and ends
// the session it replaces: the browser's current one, else prior (a
// step-up's), whose participants the new one takes over when it is the
// same user's (inherit). A new id every time: rotation at sign-in.
// remember: the user asked to remember this browser for the second factor.
func (ss *Sessions) start(ctx context.Context, w http.ResponseWriter, r *http.Request, s store.Session, token, prior string, remember bool) error {
	if c, err := r.Cookie(ss.sessionCookie()); err == nil && c.Value != "" {
		prior = sessionKey(c.Value)
	}
	if prior != "" && prior != s.ID {
		s = ss.inherit(ctx, prior, s)
	}
	if err := ss.store.CreateSession(ctx, s); err != nil {
		return err
	}
	if prior != "" && prior != s.ID {
		// Another user's session in this browser ends here; the same
		// user's goes on under its SID (continuedSID).
		var other *store.Session
		if old, err := ss.store.GetSession(ctx, prior, ss.now()); err == nil && old.UserID != s.UserID && ss.onEnd != nil {
			other = &old
		}
		if err := ss.store.DeleteSession(ctx, prior); err != nil && !errors.Is(err, store.ErrNotFound) {
			ss.log.WarnContext(ctx, "ending the replaced session", "err", err)
		}
		if other != nil {
			ss.ended(ctx, Ended{UserID: other.UserID, SIDs: []string{sidOf(other)}})
		}
	}
	if remember {
		if err := ss.remember(ctx, w, r, s.UserID, s.MFATime, s.Methods); err != nil {
			ss.log.ErrorContext(ctx, "remembering the device", "err", err)
		}
	}
	ss.setCookie(w, ss.sessionCookie(), token, 0)
	return nil
}

// EndAll ends every session of the user (after a reset or an
// administrator's action); it returns how many.
func (ss *Sessions) EndAll(ctx context.Context, userID string) (int64, error) {
	ended := ss.ending(ctx, userID, "")
	n, err := ss.store.DeleteUserSessions(ctx, userID)
	if err == nil {
		ss.ended(ctx, ended)
	}
	return n, err
}

// FactorRemoved ends what a removed factor backed: every other session of
// the user (one may have been signed in with that factor) and every
// remembered browser. The session of r, where the user just proved a
// second factor to remove it, goes on. It returns how many sessions ended.
func (ss *Sessions) FactorRemoved(ctx context.Context, r *http.Request, userID string) (int64, error) {
	keep := ""
	if c, err := r.Cookie(ss.sessionCookie()); err == nil && c.Value != "" && len(c.Value) <= 64 {
		keep = sessionKey(c.Value)
	}
	return ss.endOthers(ctx, userID, keep)
}
