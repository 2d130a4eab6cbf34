package signin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
)

// countingStore counts session writes.
type countingStore struct {
	SessionStore
	updates atomic.Int32
}

func (c *countingStore) UpdateSession(ctx context.Context, id string, fn func(store.Session) (store.Session, error)) (store.Session, error) {
	c.updates.Add(1)
	return c.SessionStore.UpdateSession(ctx, id, fn)
}

type participantEnv struct {
	ss    *Sessions
	db    *sqlite.Store
	count *countingStore
	now   time.Time
}

// newParticipantEnv is a Sessions on a real SQLite database; sealed says
// whether it has the key that seals SessionIndexes.
func newParticipantEnv(t *testing.T, sealed bool) *participantEnv {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e := &participantEnv{db: db, count: &countingStore{SessionStore: db}, now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	var box *secrets.Box
	if sealed {
		box, _ = secrets.New([]byte(strings.Repeat("k", 32)))
	}
	log := slog.New(slog.DiscardHandler)
	clock := func() time.Time { return e.now }
	e.ss = NewSessions(SessionOptions{Config: config.Default().Sessions, Store: e.count, Audit: audit.New(db, log, clock), Logger: log,
		Now: clock, Secrets: box})
	return e
}

// session stores a session of userID and returns it with the token its
// cookie holds.
func (e *participantEnv) session(t *testing.T, userID string) (store.Session, string) {
	t.Helper()
	u := &directory.User{ID: userID, UPN: userID + "@corp.example.test"}
	s, token, err := e.ss.newSession(u, u.UPN, []string{"pwd"}, e.now, time.Time{}, sessionData{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s, token
}

func (e *participantEnv) request(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/saml/slo", nil)
	if token != "" {
		r.AddCookie(&http.Cookie{Name: e.ss.sessionCookie(), Value: token})
	}
	return r
}

func (e *participantEnv) add(t *testing.T, sessionID string, p Participant) Participant {
	t.Helper()
	got, err := e.ss.AddParticipant(context.Background(), sessionID, p)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (e *participantEnv) alive(t *testing.T, id string) bool {
	t.Helper()
	_, err := e.db.GetSession(context.Background(), id, e.now)
	return err == nil
}

func wiki(nameID string) Participant {
	return Participant{Protocol: ProtocolSAML, App: "Wiki", EntityID: "https://wiki.example.com", NameID: nameID,
		NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}
}

var hr = Participant{Protocol: ProtocolSAML, App: "HR", EntityID: "https://hr.example.com", NameID: "alice@corp.example.test",
	NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"}

var m365 = Participant{Protocol: ProtocolWSFed, App: "Microsoft 365", EntityID: "urn:federation:MicrosoftOnline",
	ReplyURL: "https://login.microsoftonline.com/login.srf"}

func TestASessionRecordsEachParticipantOnceWithItsSessionIndex(t *testing.T) {
	e := newParticipantEnv(t, true)
	ctx := context.Background()
	s, token := e.session(t, "u-alice")

	first := e.add(t, s.ID, wiki("n-1"))
	if first.SessionIndex == "" || strings.Contains(first.SessionIndex, s.ID) || strings.Contains(first.SessionIndex, token) ||
		strings.Contains(first.SessionIndex, "u-alice") {
		t.Errorf("SessionIndex %q must be opaque: neither the session's id, its token nor the user", first.SessionIndex)
	}
	writes := e.count.updates.Load()
	if again := e.add(t, s.ID, wiki("n-1")); again != first {
		t.Errorf("recorded again: %+v, first %+v", again, first)
	}
	if e.count.updates.Load() != writes {
		t.Error("recording a participant the session already has wrote the session")
	}
	if idx, err := e.ss.SessionIndex(ctx, s.ID, "https://wiki.example.com"); err != nil || idx != first.SessionIndex {
		t.Errorf("SessionIndex for the wiki = %q, %v; want the one it has, %q", idx, err, first.SessionIndex)
	}
	// A new transient NameID at the same SP: a second record, the same
	// SessionIndex (one session at the IdP).
	second := e.add(t, s.ID, wiki("n-2"))
	if second.SessionIndex != first.SessionIndex {
		t.Errorf("a second NameID at the same SP got SessionIndex %q, want %q", second.SessionIndex, first.SessionIndex)
	}
	h := e.add(t, s.ID, hr)
	if h.SessionIndex == first.SessionIndex {
		t.Error("two SPs got the same SessionIndex: they could tell they share a user")
	}
	// A WS-Fed relying party keeps no SAML subject.
	ws := m365
	ws.NameID = "ignored"
	if got := e.add(t, s.ID, ws); got != m365 {
		t.Errorf("WS-Fed participant stored as %+v", got)
	}

	ps, err := e.ss.Participants(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 || ps[0] != first || ps[1] != second || ps[2] != h || ps[3] != m365 {
		t.Errorf("participants %+v", ps)
	}
	// The session still serves: its other data survived the writes.
	if res, ok := e.ss.CurrentUser(e.request(token)); !ok || res.User.ID != "u-alice" {
		t.Errorf("the session no longer serves: %+v %v", res, ok)
	}
}

func TestAParticipantThatIsNotWellFormedIsRefused(t *testing.T) {
	e := newParticipantEnv(t, true)
	s, _ := e.session(t, "u-alice")
	for name, p := range map[string]Participant{
		"an unknown protocol": {Protocol: "oidc", EntityID: "x"},
		"no entity ID":        {Protocol: ProtocolSAML, NameID: "n"},
		"a huge NameID":       {Protocol: ProtocolSAML, EntityID: "x", NameID: strings.Repeat("n", maxParticipantField+1)},
	} {
		if _, err := e.ss.AddParticipant(context.Background(), s.ID, p); err == nil {
			t.Errorf("%s: recorded", name)
		}
	}
	if _, err := e.ss.AddParticipant(context.Background(), "no-such-session", hr); err == nil {
		t.Error("recorded in a session that does not exist")
	}
}

func TestASessionKeepsItsNewestParticipantsUpToTheBound(t *testing.T) {
	e := newParticipantEnv(t, false)
	s, _ := e.session(t, "u-alice")
	for i := range MaxParticipants + 7 {
		e.add(t, s.ID, wiki(fmt.Sprintf("n-%d", i)))
	}
	ps, _ := e.ss.Participants(context.Background(), s.ID)
	if len(ps) != MaxParticipants || ps[0].NameID != "n-7" || ps[len(ps)-1].NameID != fmt.Sprintf("n-%d", MaxParticipants+6) {
		t.Errorf("%d participants, from %s to %s", len(ps), ps[0].NameID, ps[len(ps)-1].NameID)
	}
}

func TestParticipantsRecordedAtOnceAreAllKept(t *testing.T) {
	e := newParticipantEnv(t, true)
	s, _ := e.session(t, "u-alice")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := hr
			p.EntityID = fmt.Sprintf("https://sp%d.example.com", i)
			if _, err := e.ss.AddParticipant(context.Background(), s.ID, p); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ps, _ := e.ss.Participants(context.Background(), s.ID); len(ps) != 8 {
		t.Errorf("%d of 8 participants kept", len(ps))
	}
}

func TestASessionThatReplacesTheUsersSessionTakesOverItsParticipants(t *testing.T) {
	for _, tc := range []struct {
		name      string
		newUser   string
		wantTaken bool
	}{
		{"a step-up of the same user", "u-alice", true},
		{"another user signing in in the same browser", "u-bob", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newParticipantEnv(t, true)
			ctx := context.Background()
			old, token := e.session(t, "u-alice")
			w := e.add(t, old.ID, wiki("n-1"))
			e.add(t, old.ID, m365)

			u := &directory.User{ID: tc.newUser}
			s, newToken, err := e.ss.newSession(u, tc.newUser, []string{"pwd", "mfa"}, e.now, e.now, sessionData{})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.ss.start(ctx, httptest.NewRecorder(), e.request(token), s, newToken, "", false); err != nil {
				t.Fatal(err)
			}
			if e.alive(t, old.ID) {
				t.Fatal("the replaced session still lives")
			}
			ps, _ := e.ss.Participants(ctx, s.ID)
			if tc.wantTaken != (len(ps) == 2) || (tc.wantTaken && ps[0] != w) {
				t.Errorf("participants of the new session: %+v", ps)
			}
			// The SP keeps the SessionIndex it was given.
			if idx, _ := e.ss.SessionIndex(ctx, s.ID, w.EntityID); tc.wantTaken && idx != w.SessionIndex {
				t.Errorf("SessionIndex after the step-up %q, want %q", idx, w.SessionIndex)
			}
		})
	}
}

func TestALogoutMatchNamesOnlyTheParticipationItIsAbout(t *testing.T) {
	p := wiki("n-1")
	p.SessionIndex = "_idx"
	p.SPNameQualifier = "https://wiki.example.com"
	base := LogoutMatch{EntityID: p.EntityID, NameID: "n-1", NameIDFormat: p.NameIDFormat, SessionIndexes: []string{"_other", "_idx"}}
	for _, tc := range []struct {
		name string
		mod  func(*LogoutMatch)
		want bool
	}{
		{"the same SP, NameID and SessionIndex", func(*LogoutMatch) {}, true},
		{"no SessionIndex (every session of the subject at the SP)", func(m *LogoutMatch) { m.SessionIndexes = nil }, true},
		{"no Format", func(m *LogoutMatch) { m.NameIDFormat = "" }, true},
		{"the unspecified Format", func(m *LogoutMatch) { m.NameIDFormat = nameIDUnspecified }, true},
		{"the same SPNameQualifier", func(m *LogoutMatch) { m.SPNameQualifier = p.EntityID }, true},
		{"another SP", func(m *LogoutMatch) { m.EntityID = "https://hr.example.com" }, false},
		{"another NameID", func(m *LogoutMatch) { m.NameID = "n-2" }, false},
		{"the NameID in another case", func(m *LogoutMatch) { m.NameID = "N-1" }, false},
		{"an empty NameID", func(m *LogoutMatch) { m.NameID = "" }, false},
		{"another Format", func(m *LogoutMatch) { m.NameIDFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient" }, false},
		{"another SPNameQualifier", func(m *LogoutMatch) { m.SPNameQualifier = "https://hr.example.com" }, false},
		{"other SessionIndexes", func(m *LogoutMatch) { m.SessionIndexes = []string{"_other"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base
			tc.mod(&m)
			if got := m.Matches(p); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
	ws := m365
	if (LogoutMatch{EntityID: ws.EntityID}).Matches(ws) {
		t.Error("a SAML LogoutRequest matched a WS-Fed participant")
	}
}

func TestTheBrowsersSessionEndsOnlyForALogoutAboutIt(t *testing.T) {
	e := newParticipantEnv(t, true)
	ctx := context.Background()
	s, token := e.session(t, "u-alice")
	w := e.add(t, s.ID, wiki("n-alice"))
	e.add(t, s.ID, m365)

	other := &LogoutMatch{EntityID: w.EntityID, NameID: "n-bob", SessionIndexes: []string{w.SessionIndex}}
	rec := httptest.NewRecorder()
	ended, live, err := e.ss.EndBrowserSession(rec, e.request(token), SignOutRequest{Match: other, App: "Wiki", Via: "saml"})
	if err != nil || ended != nil || !live || !e.alive(t, s.ID) {
		t.Fatalf("a logout for another NameID: ended %+v, live %v, err %v, session alive %v", ended, live, err, e.alive(t, s.ID))
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Error("the session cookie was touched")
	}

	match := &LogoutMatch{EntityID: w.EntityID, NameID: "n-alice", SessionIndexes: []string{w.SessionIndex}}
	rec = httptest.NewRecorder()
	ended, live, err = e.ss.EndBrowserSession(rec, e.request(token), SignOutRequest{Match: match, App: "Wiki", Via: "saml"})
	if err != nil || ended == nil || !live || e.alive(t, s.ID) {
		t.Fatalf("the matching logout: ended %+v, live %v, err %v, session alive %v", ended, live, err, e.alive(t, s.ID))
	}
	if ended.UserID != "u-alice" || len(ended.Participants) != 2 {
		t.Errorf("ended %+v", ended)
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("the cookie was not cleared: %v", c)
	}
	evs, _ := e.db.QueryAudit(ctx, store.AuditQuery{Type: audit.SignOut})
	var detail map[string]string
	if len(evs) != 1 || json.Unmarshal(evs[0].Detail, &detail) != nil || evs[0].UserID != "u-alice" || evs[0].App != "Wiki" ||
		detail["via"] != "saml" || detail["participants"] != "2" {
		t.Errorf("audit %+v %s", evs, detail)
	}

	// Again: nothing is left to end, and the browser has no live session.
	ended, live, err = e.ss.EndBrowserSession(httptest.NewRecorder(), e.request(token), SignOutRequest{})
	if ended != nil || live || err != nil {
		t.Errorf("a second sign-out: %+v %v %v", ended, live, err)
	}
	if ended, live, _ := e.ss.EndBrowserSession(httptest.NewRecorder(), e.request(""), SignOutRequest{}); ended != nil || live {
		t.Error("a browser without a cookie had a session to end")
	}
}

func TestASignedLogoutWithoutTheCookieFindsItsSessionBySessionIndex(t *testing.T) {
	e := newParticipantEnv(t, true)
	ctx := context.Background()
	alice, _ := e.session(t, "u-alice")
	aliceLaptop, _ := e.session(t, "u-alice")
	bob, _ := e.session(t, "u-bob")
	w := e.add(t, alice.ID, wiki("n-alice"))
	wLaptop := e.add(t, aliceLaptop.ID, wiki("n-alice"))
	wb := e.add(t, bob.ID, wiki("n-bob"))
	h := e.add(t, alice.ID, hr)
	if w.SessionIndex == wLaptop.SessionIndex {
		t.Fatal("two sessions of one user have the same SessionIndex at an SP")
	}

	for _, tc := range []struct {
		name string
		m    LogoutMatch
	}{
		{"another user's NameID with her SessionIndex", LogoutMatch{EntityID: w.EntityID, NameID: "n-bob", SessionIndexes: []string{w.SessionIndex}}},
		{"her NameID with another user's SessionIndex", LogoutMatch{EntityID: w.EntityID, NameID: "n-alice", SessionIndexes: []string{wb.SessionIndex}}},
		{"her SessionIndex at another SP", LogoutMatch{EntityID: hr.EntityID, NameID: hr.NameID, SessionIndexes: []string{w.SessionIndex}}},
		{"no SessionIndex", LogoutMatch{EntityID: w.EntityID, NameID: "n-alice"}},
		{"a SessionIndex Gatehouse did not issue", LogoutMatch{EntityID: w.EntityID, NameID: "n-alice", SessionIndexes: []string{"_" + strings.Repeat("A", 60)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ended, err := e.ss.EndBySessionIndex(ctx, tc.m, SignOutRequest{App: "Wiki", Via: "saml"})
			if err != nil || len(ended) != 0 {
				t.Errorf("ended %+v, %v", ended, err)
			}
		})
	}
	ended, err := e.ss.EndBySessionIndex(ctx, LogoutMatch{EntityID: h.EntityID, NameID: h.NameID, NameIDFormat: h.NameIDFormat,
		SessionIndexes: []string{h.SessionIndex}}, SignOutRequest{App: "HR", Via: "saml"})
	if err != nil || len(ended) != 1 || ended[0].UserID != "u-alice" || len(ended[0].Participants) != 2 {
		t.Fatalf("ended %+v, %v", ended, err)
	}
	if e.alive(t, alice.ID) || !e.alive(t, aliceLaptop.ID) || !e.alive(t, bob.ID) {
		t.Errorf("alive: the session named %v, her other session %v, bob's %v", e.alive(t, alice.ID), e.alive(t, aliceLaptop.ID), e.alive(t, bob.ID))
	}

	t.Run("without the sealing key nothing can be found", func(t *testing.T) {
		e := newParticipantEnv(t, false)
		s, _ := e.session(t, "u-alice")
		w := e.add(t, s.ID, wiki("n-alice"))
		ended, err := e.ss.EndBySessionIndex(ctx, LogoutMatch{EntityID: w.EntityID, NameID: "n-alice", SessionIndexes: []string{w.SessionIndex}}, SignOutRequest{})
		if err != nil || len(ended) != 0 || !e.alive(t, s.ID) {
			t.Errorf("ended %+v, %v", ended, err)
		}
	})
}
