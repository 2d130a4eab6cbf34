package signin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// The protocols a participant received its token over.
const (
	ProtocolSAML  = "saml"
	ProtocolWSFed = "wsfed"
)

// MaxParticipants bounds the participants a session keeps: the oldest is
// dropped first, and is then not told of a sign-out.
const MaxParticipants = 50

// maxParticipantField bounds each field of a participant, so a session's
// data stays small whatever an SP is configured to receive.
const maxParticipantField = 2048

// nameIDUnspecified is SAML's unspecified NameID format, which a
// LogoutRequest without a Format means.
const nameIDUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

// Participant is an application that received a token in a session, and
// what a single logout must tell it: for SAML the NameID and SessionIndex
// it was given, for WS-Federation the reply URL the token went to.
type Participant struct {
	// Protocol is ProtocolSAML or ProtocolWSFed.
	Protocol string `json:"protocol"`
	// App is the app's name in the configuration.
	App string `json:"app,omitempty"`
	// EntityID is the SAML SP's entity ID or the WS-Fed realm.
	EntityID        string `json:"entity_id"`
	NameID          string `json:"name_id,omitempty"`
	NameIDFormat    string `json:"name_id_format,omitempty"`
	SPNameQualifier string `json:"sp_name_qualifier,omitempty"`
	// SessionIndex is the AuthnStatement's SessionIndex (SAML).
	SessionIndex string `json:"session_index,omitempty"`
	// ReplyURL is where a WS-Fed token was posted.
	ReplyURL string `json:"reply_url,omitempty"`
}

// same reports whether p and q are one participation: the same
// application and, for SAML, the same subject there.
func (p Participant) same(q Participant) bool {
	return p.Protocol == q.Protocol && p.EntityID == q.EntityID && p.NameID == q.NameID &&
		p.NameIDFormat == q.NameIDFormat && p.SPNameQualifier == q.SPNameQualifier
}

func (p Participant) check() error {
	if p.Protocol != ProtocolSAML && p.Protocol != ProtocolWSFed {
		return fmt.Errorf("signin: participant protocol %q", p.Protocol)
	}
	if p.EntityID == "" {
		return errors.New("signin: participant without an entity ID")
	}
	for _, f := range []string{p.App, p.EntityID, p.NameID, p.NameIDFormat, p.SPNameQualifier, p.SessionIndex, p.ReplyURL} {
		if len(f) > maxParticipantField {
			return fmt.Errorf("signin: participant %s: a field of %d bytes", p.EntityID, len(f))
		}
	}
	return nil
}

// indexAD is the associated data of a sealed SessionIndex: it opens only
// for the SP it was issued to.
func indexAD(entityID string) []byte { return []byte("saml-session-index\x00" + entityID) }

// newIndexBox is the Box that seals SessionIndexes, with a key of its own.
func newIndexBox(b *secrets.Box) *secrets.Box {
	if b == nil {
		return nil
	}
	ib, err := secrets.New(b.DeriveKey("saml session index"))
	if err != nil {
		panic("signin: " + err.Error()) // DeriveKey returns a key of the size New takes
	}
	return ib
}

// newSessionIndex is a SessionIndex for entityID in a session of userID:
// the user ID sealed (randomised, so two are never alike and none names
// the user), which lets a LogoutRequest that arrives without the
// browser's cookie find the session (EndBySessionIndex). It is never the
// session's ID. Without Secrets it is only random.
func (ss *Sessions) newSessionIndex(userID, entityID string) string {
	if ss.indexBox == nil {
		return "_" + newID()
	}
	return "_" + base64.RawURLEncoding.EncodeToString(ss.indexBox.Seal([]byte(userID), indexAD(entityID)))
}

// sessionUser opens a SessionIndex for entityID back to its user ID.
func (ss *Sessions) sessionUser(index, entityID string) (string, bool) {
	if ss.indexBox == nil || len(index) < 2 || index[0] != '_' || len(index) > 1024 {
		return "", false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(index[1:])
	if err != nil {
		return "", false
	}
	userID, err := ss.indexBox.Open(sealed, indexAD(entityID))
	if err != nil {
		return "", false
	}
	return string(userID), true
}

func readData(s store.Session) (sessionData, error) {
	var d sessionData
	err := json.Unmarshal(s.Data, &d)
	return d, err
}

// SessionIndex returns the SessionIndex for a SAML assertion to entityID
// in the session: the one the SP already has from this session, else a
// new one (not stored until AddParticipant records it).
func (ss *Sessions) SessionIndex(ctx context.Context, sessionID, entityID string) (string, error) {
	s, err := ss.get(ctx, sessionID)
	if err != nil {
		return "", err
	}
	d, err := readData(s)
	if err != nil {
		return "", err
	}
	if idx := indexOf(d.Participants, entityID); idx != "" {
		return idx, nil
	}
	return ss.newSessionIndex(s.UserID, entityID), nil
}

// indexOf is the SessionIndex a SAML SP already holds in ps.
func indexOf(ps []Participant, entityID string) string {
	for i := len(ps) - 1; i >= 0; i-- {
		if p := ps[i]; p.Protocol == ProtocolSAML && p.EntityID == entityID && p.SessionIndex != "" {
			return p.SessionIndex
		}
	}
	return ""
}

// AddParticipant records that the session's user received a token for
// p's application, so a sign-out tells it. A SAML participant without a
// SessionIndex gets the session's for that SP (SessionIndex); the stored
// participant is returned, and its SessionIndex is the one the assertion
// must carry. Recording it again changes nothing (and writes nothing);
// beyond MaxParticipants the oldest is dropped.
func (ss *Sessions) AddParticipant(ctx context.Context, sessionID string, p Participant) (Participant, error) {
	if p.Protocol == ProtocolWSFed {
		p.NameID, p.NameIDFormat, p.SPNameQualifier, p.SessionIndex = "", "", "", ""
	}
	if err := p.check(); err != nil {
		return Participant{}, err
	}
	s, err := ss.get(ctx, sessionID)
	if err != nil {
		return Participant{}, err
	}
	d, err := readData(s)
	if err != nil {
		return Participant{}, err
	}
	if p.Protocol == ProtocolSAML && p.SessionIndex == "" {
		if p.SessionIndex = indexOf(d.Participants, p.EntityID); p.SessionIndex == "" {
			p.SessionIndex = ss.newSessionIndex(s.UserID, p.EntityID)
		}
	}
	if slices.Contains(d.Participants, p) {
		return p, nil // an SSO to an app already told costs no write
	}
	_, err = ss.store.UpdateSession(ctx, sessionID, func(old store.Session) (store.Session, error) {
		d, err := readData(old)
		if err != nil {
			return old, err
		}
		d.Participants = slices.DeleteFunc(d.Participants, p.same)
		d.Participants = append(d.Participants, p)
		if n := len(d.Participants) - MaxParticipants; n > 0 {
			d.Participants = slices.Delete(d.Participants, 0, n)
		}
		if old.Data, err = json.Marshal(d); err != nil {
			return old, err
		}
		return old, nil
	})
	if err != nil {
		return Participant{}, err
	}
	return p, nil
}

// Participants returns the applications the session's user received
// tokens from, oldest first.
func (ss *Sessions) Participants(ctx context.Context, sessionID string) ([]Participant, error) {
	s, err := ss.get(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	d, err := readData(s)
	if err != nil {
		return nil, err
	}
	return d.Participants, nil
}

// inherit gives session s, which replaces the browser's session prior
// (a step-up, a fresh sign-in for an app that demanded one), prior's
// participants when both are the same user's: the applications signed in
// from the old session still need to hear of a sign-out from the new one,
// by the NameID and SessionIndex they were given.
func (ss *Sessions) inherit(ctx context.Context, prior string, s store.Session) store.Session {
	old, err := ss.get(ctx, prior)
	if err != nil || old.UserID != s.UserID {
		return s
	}
	od, err := readData(old)
	if err != nil || len(od.Participants) == 0 {
		return s
	}
	d, err := readData(s)
	if err != nil {
		return s
	}
	d.Participants = append(slices.Clone(od.Participants), d.Participants...)
	if n := len(d.Participants) - MaxParticipants; n > 0 {
		d.Participants = slices.Delete(d.Participants, 0, n)
	}
	if raw, err := json.Marshal(d); err == nil {
		s.Data = raw
	}
	return s
}

// LogoutFanOut tells the applications of a session that has just ended
// that the user signed out, and sends the browser on to done ("" stays on
// Gatehouse's signed-out page): protocol/saml's single logout.
type LogoutFanOut interface {
	FanOut(w http.ResponseWriter, r *http.Request, participants []Participant, done string) error
}

// SetLogoutFanOut makes /logout tell the session's applications that the
// user signed out (single logout). Without it, /logout ends Gatehouse's
// session only.
func (e *Engine) SetLogoutFanOut(f LogoutFanOut) { e.fanOut = f }

// LogoutFanOut is what SetLogoutFanOut set (nil: none), for the other
// sign-out endpoints (OpenID Connect's RP-initiated logout).
func (e *Engine) LogoutFanOut() LogoutFanOut { return e.fanOut }

// LogoutMatch is what a SAML LogoutRequest says about the session it
// ends: the SP that asks, the subject as that SP knows it, and the
// SessionIndexes (none: any of the subject's sessions there).
type LogoutMatch struct {
	EntityID        string
	NameID          string
	NameIDFormat    string
	SPNameQualifier string
	SessionIndexes  []string
}

// Matches reports whether p is the participation m names. A Format left
// out (or unspecified) and a missing SPNameQualifier on either side do not
// keep it from matching; the NameID itself and the SessionIndex must be
// equal.
func (m LogoutMatch) Matches(p Participant) bool {
	if p.Protocol != ProtocolSAML || p.EntityID != m.EntityID || m.NameID == "" || p.NameID != m.NameID {
		return false
	}
	if m.NameIDFormat != "" && m.NameIDFormat != nameIDUnspecified && p.NameIDFormat != "" && p.NameIDFormat != m.NameIDFormat {
		return false
	}
	if m.SPNameQualifier != "" && p.SPNameQualifier != "" && m.SPNameQualifier != p.SPNameQualifier {
		return false
	}
	return len(m.SessionIndexes) == 0 || slices.Contains(m.SessionIndexes, p.SessionIndex)
}

func (m LogoutMatch) matchesAny(ps []Participant) bool { return slices.ContainsFunc(ps, m.Matches) }

// SignOutRequest says which session a sign-out ends and who asked.
type SignOutRequest struct {
	// Match, when set, ends the session only when one of its participants
	// matches (a SAML LogoutRequest); nil ends the browser's session
	// whatever it is (Gatehouse's own /logout, a WS-Fed wsignout1.0).
	Match *LogoutMatch
	// App is the application that asked, for the audit; empty for
	// Gatehouse's own page.
	App string
	// Via is how the sign-out came, for the audit (detail "via"): "page",
	// "saml" or "wsfed".
	Via string
}

// EndedSession is a session a sign-out ended: whose, and the
// participants to tell.
type EndedSession struct {
	UserID       string
	Login        string
	Participants []Participant
}

// HasSessionCookie reports whether the request carries the session
// cookie at all. A SAML LogoutRequest POSTed from an SP's page is a
// cross-site POST, which the SameSite=Lax cookie does not travel with:
// the SLO endpoint posts it to itself once to get the cookie.
func (ss *Sessions) HasSessionCookie(r *http.Request) bool {
	c, err := r.Cookie(ss.sessionCookie())
	return err == nil && c.Value != ""
}

// EndBrowserSession ends the session of the browser's cookie — when
// req.Match is set, only if one of its participants matches, so a
// LogoutRequest about someone else never ends this browser's session —
// audits it and clears the cookie. live reports whether the browser had a
// live session at all (ended or not). It reads the session as stored,
// without asking the directory: a sign-out needs nothing of the account.
func (ss *Sessions) EndBrowserSession(w http.ResponseWriter, r *http.Request, req SignOutRequest) (ended *EndedSession, live bool, err error) {
	ctx := r.Context()
	c, cerr := r.Cookie(ss.sessionCookie())
	if cerr != nil || c.Value == "" || len(c.Value) > 64 {
		return nil, false, nil
	}
	key := sessionKey(c.Value)
	s, err := ss.get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		ss.setCookie(w, ss.sessionCookie(), "", -1)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	d, err := readData(s)
	if err != nil {
		return nil, true, err
	}
	if req.Match != nil && !req.Match.matchesAny(d.Participants) {
		return nil, true, nil
	}
	if ended, err = ss.end(ctx, s, d, req); err != nil {
		return nil, true, err
	}
	ss.setCookie(w, ss.sessionCookie(), "", -1)
	return ended, true, nil
}

// EndBySessionIndex ends the sessions a signed LogoutRequest names by
// SessionIndex when it did not come with the browser's cookie: each index
// Gatehouse issued opens to its user (newSessionIndex), whose live
// sessions are searched for a participant that matches m. Indexes that
// are not Gatehouse's, or not for m's SP, find nothing. Only a verified
// request may be acted on this way; it needs at least one SessionIndex.
func (ss *Sessions) EndBySessionIndex(ctx context.Context, m LogoutMatch, req SignOutRequest) ([]EndedSession, error) {
	users := map[string]bool{}
	for _, idx := range m.SessionIndexes {
		if u, ok := ss.sessionUser(idx, m.EntityID); ok {
			users[u] = true
		}
	}
	var ended []EndedSession
	var errs []error
	for _, userID := range slices.Sorted(maps.Keys(users)) {
		sessions, err := ss.store.ListUserSessions(ctx, userID, ss.now())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range sessions {
			d, err := readData(s)
			if err != nil || !m.matchesAny(d.Participants) {
				continue
			}
			e, err := ss.end(ctx, s, d, req)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if e != nil {
				ended = append(ended, *e)
			}
		}
	}
	return ended, errors.Join(errs...)
}

// end deletes session s and audits it. A session someone else ended a
// moment ago is no error and nothing ended.
func (ss *Sessions) end(ctx context.Context, s store.Session, d sessionData, req SignOutRequest) (*EndedSession, error) {
	err := ss.store.DeleteSession(ctx, s.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("signin: ending the session: %w", err)
	}
	detail := map[string]string{"participants": fmt.Sprint(len(d.Participants))}
	if req.Via != "" {
		detail["via"] = req.Via
	}
	ss.audit.Record(ctx, audit.Event{Type: audit.SignOut, UserID: s.UserID, Login: s.Login, App: req.App, Result: "ok", Detail: detail})
	ss.ended(ctx, Ended{UserID: s.UserID, SIDs: []string{sidOf(&s)}})
	return &EndedSession{UserID: s.UserID, Login: s.Login, Participants: d.Participants}, nil
}
