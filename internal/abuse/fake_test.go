package abuse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/postgres"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// clock is a test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeAD is a directory that counts wrong passwords and locks accounts as
// Active Directory does (badPwdCount, observation window, threshold), for
// unit tests of the guard's logic. It finds users by sAMAccountName, UPN
// or mail in any case (not CORP\name, as AD's user search does not). The
// real DC is in the integration tests.
type fakeAD struct {
	now    func() time.Time
	domain directory.LockoutPolicy

	mu    sync.Mutex
	users []*fakeUser

	binds    atomic.Int64 // passwords that reached the "DC"
	searches atomic.Int64
	// gate, when set, holds every bind until it is closed; arrived counts
	// the binds waiting.
	gate    chan struct{}
	arrived atomic.Int64
	// broken, when set, makes binds fail as a dead connection would.
	broken atomic.Bool
}

type fakeUser struct {
	id, sam, upn, mail, password string
	pwdLastSet                   time.Time
	lockout                      *directory.LockoutPolicy // nil: the domain's
	bad                          int
	badTime                      time.Time
	lockedAt                     time.Time
}

var errConnReset = errors.New("ldap: connection reset by peer")

func newFakeAD(now func() time.Time, domain directory.LockoutPolicy) *fakeAD {
	return &fakeAD{now: now, domain: domain}
}

func (d *fakeAD) add(sam, password string, lockout *directory.LockoutPolicy) *fakeUser {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	u := &fakeUser{id: hex.EncodeToString(b), sam: sam, upn: sam + "@corp.example.test", mail: sam + ".mail@example.org",
		password: password, pwdLastSet: d.now().Add(-24 * time.Hour), lockout: lockout}
	d.users = append(d.users, u)
	return u
}

// setPassword is an administrator's reset: pwdLastSet moves.
func (d *fakeAD) setPassword(u *fakeUser, password string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u.password, u.pwdLastSet = password, d.now()
}

func (d *fakeAD) policy(u *fakeUser) directory.LockoutPolicy {
	if u.lockout != nil {
		return *u.lockout
	}
	return d.domain
}

func (d *fakeAD) locked(u *fakeUser) bool {
	p := d.policy(u)
	return !u.lockedAt.IsZero() && (p.Duration == 0 || d.now().Before(u.lockedAt.Add(p.Duration)))
}

// state is what the DC holds now.
func (d *fakeAD) state(u *fakeUser) (bad int, locked bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return u.bad, d.locked(u)
}

func (d *fakeAD) find(login string) *fakeUser {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if strings.EqualFold(login, u.sam) || strings.EqualFold(login, u.upn) || strings.EqualFold(login, u.mail) {
			return u
		}
	}
	return nil
}

func (d *fakeAD) toUser(u *fakeUser) *directory.User {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.policy(u)
	return &directory.User{ID: u.id, SAMAccountName: u.sam, UPN: u.upn, Mail: u.mail, State: directory.AccountState{
		Locked: d.locked(u), PasswordLastSet: u.pwdLastSet, BadPasswordCount: u.bad, BadPasswordTime: u.badTime, Lockout: &p,
	}}
}

func (d *fakeAD) Authenticate(ctx context.Context, login, password string) (*directory.User, error) {
	return d.AuthenticateWith(ctx, login, password, nil)
}

func (d *fakeAD) AuthenticateWith(ctx context.Context, login, password string, before func(context.Context, *directory.User) error) (*directory.User, error) {
	d.searches.Add(1)
	fu := d.find(login)
	if fu == nil {
		return nil, directory.ErrInvalidCredentials
	}
	if before != nil {
		if err := before(ctx, d.toUser(fu)); err != nil {
			return nil, err
		}
	}
	if d.gate != nil {
		d.arrived.Add(1)
		<-d.gate
	}
	if d.broken.Load() {
		return nil, fmt.Errorf("%w: %w", directory.ErrUnavailable, errConnReset)
	}
	d.binds.Add(1)
	if err := d.bind(fu, password); err != nil {
		return nil, err
	}
	return d.toUser(fu), nil
}

// bind checks the password as the DC does.
func (d *fakeAD) bind(fu *fakeUser, password string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.locked(fu) {
		return directory.ErrAccountLocked
	}
	if password == fu.password {
		fu.bad, fu.lockedAt = 0, time.Time{}
		return nil
	}
	if p := d.policy(fu); p.Threshold > 0 {
		now := d.now()
		if p.ObservationWindow > 0 && !now.Before(fu.badTime.Add(p.ObservationWindow)) {
			fu.bad = 0
		}
		fu.bad++
		fu.badTime = now
		if fu.bad >= p.Threshold {
			fu.lockedAt = now
		}
	}
	return directory.ErrInvalidCredentials
}

func (d *fakeAD) LookupUser(_ context.Context, login string) (*directory.User, error) {
	d.searches.Add(1)
	if u := d.find(login); u != nil {
		return d.toUser(u), nil
	}
	return nil, directory.ErrUserNotFound
}

func (d *fakeAD) DomainPolicy(context.Context) (directory.Policy, error) {
	return directory.Policy{LockoutThreshold: d.domain.Threshold, ObservationWindow: d.domain.ObservationWindow,
		LockoutDuration: d.domain.Duration}, nil
}

func (d *fakeAD) Check(context.Context) error { return nil }
func (d *fakeAD) Close() error                { return nil }

// plainDir hides the fake's optional capabilities, as a directory without
// them would be.
type plainDir struct{ d *fakeAD }

func (p plainDir) Authenticate(ctx context.Context, l, pw string) (*directory.User, error) {
	return p.d.Authenticate(ctx, l, pw)
}
func (p plainDir) LookupUser(ctx context.Context, l string) (*directory.User, error) {
	return p.d.LookupUser(ctx, l)
}
func (p plainDir) Check(ctx context.Context) error { return p.d.Check(ctx) }
func (p plainDir) Close() error                    { return nil }

// memAudit keeps recorded events.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (m *memAudit) Record(_ context.Context, e audit.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
}

// count counts the events of typ whose Result or Reason is what.
func (m *memAudit) count(typ, what string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.events {
		if e.Type == typ && (e.Result == what || e.Reason == what) {
			n++
		}
	}
	return n
}

// backends opens each real store a test runs on: SQLite always,
// PostgreSQL when the test database is configured (skipped locally
// without it, failing under CI, as testenv decides).
var backends = []struct {
	name string
	open func(t *testing.T) Store
}{
	{"SQLite", openSQLite},
	{"PostgreSQL", func(t *testing.T) Store { return openPostgres(t, pgSchema(t)) }},
}

func openSQLite(t *testing.T) Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// pgSchema creates a schema of the test database for t (dropped at the
// end) and returns a DSN that uses it.
func pgSchema(t *testing.T) string {
	t.Helper()
	dsn := testenv.Get(t, testenv.PostgresDSN)
	schema := "gh_abuse_" + strings.ToLower(rand.Text())
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func openPostgres(t *testing.T, dsn string) Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// newGuard builds a guard on st and dir with the default limits changed by
// edit (may be nil).
func newGuard(t *testing.T, st Store, dir directory.Directory, now func() time.Time, edit func(*Limits)) (*Guard, *memAudit) {
	t.Helper()
	l := Defaults()
	if edit != nil {
		edit(&l)
	}
	a := &memAudit{}
	g, err := New(Options{Limits: l, Store: st, Directory: dir, Key: testKey, Audit: a, Now: now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return g, a
}

// scope returns the refusal's scope, or "" when err is none.
func scope(err error) string {
	var th *Throttled
	if errors.As(err, &th) {
		return th.Scope
	}
	return ""
}
