package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

const adminPassword = "Admin!Cmd-Passw0rd-1"

// adAdminSetup writes a configuration for the test DC with a fresh store,
// and runs Gatehouse on it (as gatehouse serve would, creating the store
// and keys) for the test to prepare state through; it stays open.
func adAdminSetup(t *testing.T) (cfgPath string, a *app.App) {
	t.Helper()
	v := testenv.Require(t, testenv.ADURL, testenv.ADCAFile, testenv.ADBindDN, testenv.ADBindPassword, testenv.ADBaseDN)
	dir := t.TempDir()
	pw := filepath.Join(dir, "bind.pw")
	if err := os.WriteFile(pw, []byte(v[3]), 0o600); err != nil {
		t.Fatal(err)
	}
	q := strconv.Quote
	y := "issuer: https://sso.corp.example.test\n" +
		"storage: {sqlite: {path: " + q(filepath.Join(dir, "g.db")) + "}}\n" +
		"secrets: {encryption_key_file: " + q(filepath.Join(dir, "enc.key")) + "}\n" +
		"signing: {key_file: " + q(filepath.Join(dir, "s.key")) + ", cert_file: " + q(filepath.Join(dir, "s.crt")) + "}\n" +
		"log: {level: warn}\n" +
		"directory:\n  type: activedirectory\n  activedirectory:\n" +
		"    urls: [" + q(v[0]) + "]\n    ca_file: " + q(v[1]) + "\n    bind_dn: " + q(v[2]) + "\n" +
		"    bind_password_file: " + q(pw) + "\n    base_dn: " + q(v[4]) + "\n"
	cfgPath = filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err = app.New(t.Context(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return cfgPath, a
}

// admin runs gatehouse admin with args and returns the exit code and output.
func admin(t *testing.T, cfgPath string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(append([]string{"admin"}, args...), "--config", cfgPath), &out, &errOut)
	return code, out.String(), errOut.String()
}

func lookup(t *testing.T, a *app.App, name string) *directory.User {
	t.Helper()
	u, err := a.Directory.LookupUser(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// enrolTOTP gives u a confirmed authenticator app.
func enrolTOTP(t *testing.T, a *app.App, u *directory.User) {
	t.Helper()
	en, err := a.Factors.TOTP.Enrol(t.Context(), u.ID, u.UPN)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(strings.ReplaceAll(en.Secret, " ", ""), time.Now())
	if _, err := a.Factors.TOTP.Confirm(t.Context(), u.ID, en.Pending, code, "Phone"); err != nil {
		t.Fatal(err)
	}
}

// newSession stores a live session for u.
func newSession(t *testing.T, a *app.App, u *directory.User) {
	t.Helper()
	now := time.Now()
	if err := a.Store.CreateSession(t.Context(), store.Session{ID: testenv.UniqueName("s"), UserID: u.ID, Login: u.SAMAccountName,
		Methods: []string{"pwd"}, AuthTime: now, CreatedAt: now, LastSeenAt: now, IdleExpiry: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// rememberBrowser stores a remembered browser for u.
func rememberBrowser(t *testing.T, a *app.App, u *directory.User) {
	t.Helper()
	if err := a.Store.CreateCredential(t.Context(), store.Credential{ID: testenv.UniqueName("d"), UserID: u.ID, Type: "device",
		Name: "remembered browser", LookupKey: testenv.UniqueName("k"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// wrongPasswords sends n wrong passwords for name through the sign-in
// engine (from one client address), as WS-Trust would.
func wrongPasswords(t *testing.T, a *app.App, name string, n int) {
	t.Helper()
	ctx := observe.WithClientIP(t.Context(), "192.0.2.7")
	for i := range n {
		// Different wrong passwords: a repeat is answered from memory and
		// counts nowhere.
		_, _ = a.SignIn.CheckPassword(ctx, "ws-trust", name, fmt.Sprintf("Wrong!Passw0rd-%d", i))
	}
}

// osName is who the admin events must name.
func osName(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// adminEvents returns the admin events of type typ about u.
func adminEvents(t *testing.T, a *app.App, typ string, u *directory.User) []store.AuditEvent {
	t.Helper()
	q := store.AuditQuery{Type: typ}
	if u != nil {
		q.UserID = u.ID
	}
	evs, err := a.Store.QueryAudit(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if !strings.HasPrefix(e.Actor, osName(t)) {
			t.Fatalf("admin event %s names actor %q, want the OS user %q", e.Type, e.Actor, osName(t))
		}
	}
	return evs
}

func TestAdminUserStatusShowsTheADAccountAndWhatGatehouseKeeps(t *testing.T) {
	cfg, a := adAdminSetup(t)
	name := testenv.NewADUser(t, "adm", adminPassword, "Status", "Shown")
	testenv.ApplyADPSO(t, testenv.ADPSO{LockoutThreshold: 5, LockoutMinutes: 30}, name)
	u := lookup(t, a, name)
	enrolTOTP(t, a, u)
	newSession(t, a, u)
	rememberBrowser(t, a, u)
	wrongPasswords(t, a, name, 2)

	code, out, errOut := admin(t, cfg, "user", "status", name)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		name + " (Status Shown)",
		"Locked out",
		"5 wrong passwords within 30m0s lock for 30m0s",
		": 2, last " + time.Now().UTC().Format("2006-01-02"),
		strings.ToLower(name) + ": 2 until",
		`totp "Phone", enrolled`,
		"Remembered browsers",
		"signin.failure",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = admin(t, cfg, "user", "status", u.UPN, "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errOut)
	}
	var st app.UserStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	counters := map[string]int{}
	for _, c := range st.Gatehouse.Counters {
		counters[c.Login] = c.Count
	}
	if st.ID != u.ID || st.Directory.Locked || len(st.Directory.BadPasswords) != 1 || st.Directory.BadPasswords[0].Count != 2 ||
		st.Directory.Policy == nil || st.Directory.Policy.Threshold != 5 || counters[strings.ToLower(name)] != 2 ||
		len(st.Gatehouse.Factors) != 1 || st.Gatehouse.Factors[0].Method != "totp" || st.Gatehouse.RememberedBrowsers != 1 ||
		st.Gatehouse.Sessions != 1 || st.Gatehouse.SmartLockout == nil || st.Gatehouse.SmartLockout.WrongPasswords != 2 || len(st.RecentEvents) < 3 {
		t.Fatalf("--json status: %+v", st)
	}
	if evs := adminEvents(t, a, audit.AdminUserStatus, u); len(evs) != 2 {
		t.Fatalf("%d admin.user_status events, want one per command", len(evs))
	}
}

func TestAdminUnlockClearsTheADLockoutAndGatehousesCounters(t *testing.T) {
	cfg, a := adAdminSetup(t)
	name := testenv.NewADUser(t, "adm", adminPassword, "Locked", "Out")
	// Three wrong passwords through Gatehouse spend the account's budget
	// (threshold 5, less the margin of 2); two more sent straight to a DC
	// (another service) lock it in AD.
	testenv.ApplyADPSO(t, testenv.ADPSO{LockoutThreshold: 5, LockoutMinutes: 30}, name)
	wrongPasswords(t, a, name, 3)
	for range 2 {
		_, _ = a.Directory.Authenticate(t.Context(), name, "Wrong!Elsewhere-1")
	}
	if _, err := a.Directory.Authenticate(t.Context(), name, adminPassword); !errors.Is(err, directory.ErrAccountLocked) {
		t.Fatalf("the user is not locked out in AD: %v", err)
	}
	ctx := observe.WithClientIP(t.Context(), "198.51.100.9")
	if _, err := a.SignIn.CheckPassword(ctx, "ws-trust", name, adminPassword); !errors.Is(err, directory.ErrAccountLocked) {
		t.Fatalf("before the unlock the right password is not refused as locked: %v", err)
	}

	// The unlock must clear both: with AD's lockout alone gone, Gatehouse's
	// spent account budget would still refuse the user.
	code, out, errOut := admin(t, cfg, "unlock", name)
	if code != 0 || !strings.Contains(out, "Unlocked "+name+" in the directory") || !strings.Contains(out, "Cleared Gatehouse's wrong-password counters for "+strings.ToLower(name)) {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if _, err := a.SignIn.CheckPassword(ctx, "ws-trust", name, adminPassword); err != nil {
		t.Fatalf("after the unlock the right password does not sign in: %v", err)
	}
	if evs := adminEvents(t, a, audit.AdminUnlock, lookup(t, a, name)); len(evs) != 1 || evs[0].Result != "ok" {
		t.Fatalf("admin.unlock events: %+v", evs)
	}
	code, out, _ = admin(t, cfg, "unlock", name, "--json")
	var res app.UnlockResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.WasLocked || !res.DirectoryUnlocked || len(res.CountersCleared) == 0 {
		t.Fatalf("a second unlock with --json: exit %d, %s", code, out)
	}
}

func TestAdminMFAResetRemovesFactorsAndEndsSessionsAndRememberedBrowsers(t *testing.T) {
	cfg, a := adAdminSetup(t)
	name := testenv.NewADUser(t, "adm", adminPassword, "Lost", "Phone")
	u := lookup(t, a, name)
	enrolTOTP(t, a, u)
	if _, err := a.Factors.Recovery.Generate(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}
	newSession(t, a, u)
	newSession(t, a, u)
	rememberBrowser(t, a, u)
	types := func() string {
		cs, err := a.Store.ListCredentials(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ts []string
		for _, c := range cs {
			ts = append(ts, c.Type)
		}
		return strings.Join(ts, " ")
	}
	sessions := func() int {
		ss, err := a.Store.ListUserSessions(t.Context(), u.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return len(ss)
	}

	code, out, errOut := admin(t, cfg, "mfa", "reset", name, "--method", "recovery", "--json")
	var res app.MFAResetResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if res.FactorsRemoved != 1 || res.SessionsEnded != 2 || res.BrowsersForgotten != 1 || res.EnrolsAtNextSignIn {
		t.Fatalf("--method recovery: %+v", res)
	}
	if got := types(); got != "totp" || sessions() != 0 {
		t.Fatalf("after removing the recovery codes: factors %q, %d sessions", got, sessions())
	}

	code, out, errOut = admin(t, cfg, "mfa", "reset", name)
	if code != 0 || !strings.Contains(out, "Removed 1 factor(s)") || !strings.Contains(out, "enrols a new factor") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if got := types(); got != "" {
		t.Fatalf("after a full reset: factors %q", got)
	}
	if evs := adminEvents(t, a, audit.AdminMFAReset, u); len(evs) != 2 || !strings.Contains(string(evs[1].Detail), `"methods":"recovery"`) {
		t.Fatalf("admin.mfa_reset events: %+v", evs)
	}
	if code, _, errOut := admin(t, cfg, "mfa", "reset", name, "--method", "email"); code != 1 || !strings.Contains(errOut, "--method must be one of totp, webauthn, recovery") {
		t.Fatalf("--method email: exit %d, %s", code, errOut)
	}
}

func TestAdminSessionsRevokeEndsEverySessionOfTheUserOnly(t *testing.T) {
	cfg, a := adAdminSetup(t)
	name := testenv.NewADUser(t, "adm", adminPassword, "Stolen", "Laptop")
	u, other := lookup(t, a, name), lookup(t, a, testenv.Alice.SAMAccountName)
	newSession(t, a, u)
	newSession(t, a, u)
	newSession(t, a, other)
	rememberBrowser(t, a, u)
	code, out, errOut := admin(t, cfg, "sessions", "revoke", name)
	if code != 0 || !strings.Contains(out, "Ended 2 session(s) of "+name) || !strings.Contains(out, "1 remembered browser(s)") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		u    *directory.User
		want int
	}{{u, 0}, {other, 1}} {
		if ss, _ := a.Store.ListUserSessions(t.Context(), c.u.ID, time.Now()); len(ss) < c.want || (c.want == 0 && len(ss) != 0) {
			t.Errorf("%s has %d sessions, want %d", c.u.SAMAccountName, len(ss), c.want)
		}
	}
	if evs := adminEvents(t, a, audit.AdminSessionsRevoke, u); len(evs) != 1 || !strings.Contains(string(evs[0].Detail), `"sessions_revoked":"2"`) {
		t.Fatalf("admin.sessions_revoke events: %+v", evs)
	}
	if code, _, errOut := admin(t, cfg, "sessions", "revoke", "no-such-user-"+name); code != 1 || !strings.Contains(errOut, "no user") {
		t.Fatalf("an unknown user: exit %d, %s", code, errOut)
	}
}

// demoAdminSetup is a demo installation (file directory, SQLite) that
// gatehouse serve has run on once, and the path of its configuration.
func demoAdminSetup(t *testing.T) (cfgPath, dbPath string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := app.DemoConfig(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.PrepareDemo(cfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "gatehouse.yaml")
	y := "issuer: http://localhost:8080\n" +
		"storage: {sqlite: {path: " + strconv.Quote(cfg.Storage.SQLite.Path) + "}}\n" +
		"secrets: {encryption_key_file: " + strconv.Quote(cfg.Secrets.EncryptionKeyFile) + "}\n" +
		"signing: {key_file: " + strconv.Quote(cfg.Signing.KeyFile) + ", cert_file: " + strconv.Quote(cfg.Signing.CertFile) + "}\n" +
		"directory: {type: file, file: {path: " + strconv.Quote(cfg.Directory.File.Path) + "}}\n"
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	serveOnce(t, cfgPath)
	return cfgPath, cfg.Storage.SQLite.Path
}

// recordEvents appends events as a running Gatehouse would.
func recordEvents(t *testing.T, cfgPath string, es ...audit.Event) {
	t.Helper()
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.OpenAdmin(t.Context(), c, app.Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, e := range es {
		a.Audit.Record(t.Context(), e)
	}
}

func TestAdminAuditListsTheEventsAsked(t *testing.T) {
	cfg, _ := demoAdminSetup(t)
	recordEvents(t, cfg,
		audit.Event{Type: audit.SignInFailure, Login: "Alice", App: "Wiki", Result: "invalid_credentials"},
		audit.Event{Type: audit.SignInSuccess, UserID: "id-alice", Login: "alice", App: "Wiki", Result: "ok"},
		audit.Event{Type: audit.SignInFailure, Login: "bob", Result: "invalid_credentials"},
	)
	code, out, errOut := admin(t, cfg, "audit", "--user", "alice", "--since", "1h", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l app.AuditLine
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Hash == "" {
			t.Fatalf("line %q: %v (want one JSON object per event, with its hash)", line, err)
		}
		got = append(got, l.Type+"/"+l.Login)
	}
	if strings.Join(got, " ") != "signin.success/alice signin.failure/Alice" {
		t.Fatalf("--user alice listed %v, want her two events newest first", got)
	}
	code, out, _ = admin(t, cfg, "audit", "--type", "signin.failure")
	if code != 0 || strings.Count(out, "signin.failure") != 2 || !strings.Contains(out, "invalid_credentials") || strings.Contains(out, "signin.success") {
		t.Fatalf("--type signin.failure: exit %d\n%s", code, out)
	}
	if code, _, errOut := admin(t, cfg, "audit", "--since", "yesterday"); code != 1 || !strings.Contains(errOut, "--since") {
		t.Fatalf("a bad --since: exit %d, %s", code, errOut)
	}
}

func TestAdminAuditVerifyNamesTheFirstEventThatWasModifiedDeletedOrReordered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(ids []int64) string
		at     int // index of the event the message must name
		what   string
	}{
		{"nothing changed", nil, -1, ""},
		{"a modified event", func(ids []int64) string {
			return fmt.Sprintf("UPDATE audit_events SET result = 'ok' WHERE id = %d", ids[1])
		}, 1, "was modified"},
		{"a deleted event", func(ids []int64) string {
			return fmt.Sprintf("DELETE FROM audit_events WHERE id = %d", ids[1])
		}, 2, "does not follow"},
		{"reordered events", func(ids []int64) string {
			// Move the event to the end: as if it had been appended last.
			return fmt.Sprintf("UPDATE audit_events SET id = (SELECT MAX(id) + 1 FROM audit_events) WHERE id = %d", ids[1])
		}, 2, "does not follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, dbPath := demoAdminSetup(t)
			recordEvents(t, cfg,
				audit.Event{Type: audit.SignInFailure, Login: "alice", Result: "invalid_credentials"},
				audit.Event{Type: audit.SignInFailure, Login: "alice", Result: "invalid_credentials"},
				audit.Event{Type: audit.SignInSuccess, Login: "alice", Result: "ok"},
			)
			db, err := sql.Open("sqlite", dbPath)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var ids []int64
			rows, err := db.Query(`SELECT id FROM audit_events WHERE login = 'alice' ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				_ = rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			if tc.tamper != nil {
				for _, q := range []string{"DROP TRIGGER audit_events_append_only", tc.tamper(ids)} {
					if _, err := db.Exec(q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
			}
			code, out, errOut := admin(t, cfg, "audit", "--verify")
			if tc.tamper == nil {
				if code != 0 || !strings.Contains(out, "Audit trail intact") || !strings.Contains(out, "Head: event") {
					t.Fatalf("an untouched trail: exit %d\n%s%s", code, out, errOut)
				}
				return
			}
			named := fmt.Sprintf("event %d (", ids[tc.at])
			if code != 1 || !strings.Contains(errOut, "the audit trail is broken: "+named) || !strings.Contains(errOut, tc.what) ||
				!strings.Contains(out, fmt.Sprintf("BROKEN at event %d", ids[tc.at])) {
				t.Fatalf("exit %d, want 1 naming event %d (%s); stdout:\n%s\nstderr:\n%s", code, ids[tc.at], tc.what, out, errOut)
			}
			code, out, _ = admin(t, cfg, "audit", "--verify", "--json")
			var res app.VerifyResult
			if code != 1 || json.Unmarshal([]byte(out), &res) != nil || res.OK || res.Problem == nil || res.Problem.ID != ids[tc.at] {
				t.Fatalf("--verify --json: exit %d\n%s", code, out)
			}
		})
	}
}

func TestAdminUsageErrorsExitWithTwo(t *testing.T) {
	for _, args := range [][]string{{"admin"}, {"admin", "user"}, {"admin", "user", "delete", "x"}, {"admin", "unlock"},
		{"admin", "unlock", "a", "b"}, {"admin", "audit", "alice"}, {"admin", "unlock", "alice"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
