package app

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/abuse"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/ad"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// What `gatehouse admin …` runs. Every command acts on the store and
// directory of a running Gatehouse (it creates neither), writes text for
// people or JSON for scripts, and audits itself with the OS user who ran
// it as the actor.

// ErrAuditBroken is returned by AdminAuditVerify when the audit trail's
// chain is broken; the error's text names the first bad event.
var ErrAuditBroken = errors.New("the audit trail is broken")

// CheckAdmin refuses, before anything is opened, an admin command that
// would create a store instead of using the one of `gatehouse serve`.
func CheckAdmin(cfg config.Config) error {
	if cfg.Storage.Type != "sqlite" {
		return nil
	}
	if _, err := os.Stat(cfg.Storage.SQLite.Path); err != nil {
		return fmt.Errorf("storage.sqlite.path %s: %w; run this with the configuration and working directory of gatehouse serve", cfg.Storage.SQLite.Path, err)
	}
	return nil
}

// OpenAdmin builds what the admin commands need: the store, the audit
// recorder and, when withDirectory, the directory (the audit commands work
// while the directory is down). It creates no keys. Close it after use.
func OpenAdmin(ctx context.Context, cfg config.Config, opts Options, withDirectory bool) (_ *App, err error) {
	a, timeout := newApp(cfg, opts)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	if err := a.openStore(ctx); err != nil {
		return nil, &StartupError{"store", err}
	}
	if withDirectory {
		if err := a.openDirectory(ctx); err != nil {
			return nil, &StartupError{"directory", err}
		}
	}
	a.Audit = audit.New(a.Store, a.Log.With("component", "audit"), a.Now)
	return a, nil
}

// recordAdmin audits an admin action on u (nil for none).
func (a *App) recordAdmin(ctx context.Context, typ string, u *directory.User, result string, detail map[string]string) {
	e := audit.Event{Type: typ, Result: result, Actor: osUser(), Detail: detail}
	if u != nil {
		e.UserID, e.Login = u.ID, displayLogin(u)
	}
	a.Audit.Record(ctx, e)
}

func displayLogin(u *directory.User) string {
	if u.SAMAccountName != "" {
		return u.SAMAccountName
	}
	return u.UPN
}

// lookupAdmin finds the user an admin command names.
func (a *App) lookupAdmin(ctx context.Context, login string) (*directory.User, error) {
	u, err := a.Directory.LookupUser(ctx, login)
	if errors.Is(err, directory.ErrUserNotFound) {
		return nil, fmt.Errorf("no user %q in the directory", login)
	}
	return u, err
}

// logins are the names an account is known by in the limits and the
// audit: what the admin typed and each login attribute, lower-cased, each
// once.
func logins(typed string, u *directory.User) []string {
	var out []string
	for _, l := range []string{typed, u.SAMAccountName, u.UPN, u.Mail} {
		if l = strings.ToLower(strings.TrimSpace(l)); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// when formats a time for people: UTC to the second, or never.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// UserStatus is what `gatehouse admin user status` reports.
type UserStatus struct {
	Login       string `json:"login"`
	ID          string `json:"id"`
	DN          string `json:"dn,omitempty"`
	SAM         string `json:"sam_account_name,omitempty"`
	UPN         string `json:"upn,omitempty"`
	Mail        string `json:"mail,omitempty"`
	DisplayName string `json:"display_name,omitempty"`

	Directory DirectoryStatus `json:"directory"`
	Gatehouse GatehouseStatus `json:"gatehouse"`
	// RecentEvents are the account's latest audit events, newest first.
	RecentEvents []AuditLine `json:"recent_events"`
}

// DirectoryStatus is the account as the directory sees it.
type DirectoryStatus struct {
	Disabled        bool      `json:"disabled"`
	Locked          bool      `json:"locked"`
	LockedUntil     time.Time `json:"locked_until,omitzero"` // zero while locked: until an administrator unlocks
	MustChange      bool      `json:"must_change"`
	PasswordLastSet time.Time `json:"password_last_set,omitzero"`
	PasswordExpires time.Time `json:"password_expires,omitzero"`
	AccountExpires  time.Time `json:"account_expires,omitzero"`
	// Policy is the lockout part of the user's effective password policy.
	Policy *LockoutPolicy `json:"lockout_policy,omitempty"`
	// BadPasswords is badPwdCount and badPasswordTime on each DC (AD
	// keeps them per DC).
	BadPasswords []ad.BadPasswordCount `json:"bad_passwords,omitempty"`
}

// LockoutPolicy is when the directory locks the account.
type LockoutPolicy struct {
	Threshold         int    `json:"threshold"` // 0: never locks
	ObservationWindow string `json:"observation_window"`
	Duration          string `json:"duration"` // "0s" with a threshold: until an administrator unlocks
	Source            string `json:"source"`
}

// GatehouseStatus is what Gatehouse itself keeps about the account.
type GatehouseStatus struct {
	// Counters are the wrong-password limits per login.
	Counters []abuse.LoginCounter `json:"password_counters"`
	// SmartLockout is what Gatehouse counts against the account itself
	// (internal/abuse): wrong passwords from unfamiliar clients, wrong
	// codes, self-service failures.
	SmartLockout *abuse.AccountStatus `json:"smart_lockout"`
	Factors      []FactorLine         `json:"factors"`
	// RememberedBrowsers may skip the second factor.
	RememberedBrowsers int `json:"remembered_browsers"`
	Sessions           int `json:"sessions"`
}

// FactorLine is one enrolled factor.
type FactorLine struct {
	Method   string    `json:"method"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// smartLockoutStatus is the account's smart-lockout state for `admin user
// status`.
func (a *App) smartLockoutStatus(ctx context.Context, u *directory.User) (*abuse.AccountStatus, error) {
	st, err := abuse.ReadAccount(ctx, a.Store, abuse.FromConfig(a.Config.Abuse), u.ID, a.Now())
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// AdminUserStatus writes what the directory and Gatehouse know about the
// user login: AD state with each DC's bad-password count, the lockout
// policy, Gatehouse's counters, factors, sessions and recent events.
func (a *App) AdminUserStatus(ctx context.Context, w io.Writer, login string, asJSON bool) error {
	u, err := a.lookupAdmin(ctx, login)
	if err != nil {
		return err
	}
	now := a.Now()
	st := UserStatus{Login: login, ID: u.ID, DN: u.DN, SAM: u.SAMAccountName, UPN: u.UPN, Mail: u.Mail, DisplayName: u.DisplayName,
		Directory: DirectoryStatus{Disabled: u.State.Disabled, Locked: u.State.Locked, LockedUntil: u.State.LockedUntil,
			MustChange: u.State.MustChange, PasswordLastSet: u.State.PasswordLastSet, PasswordExpires: u.State.PasswordExpires,
			AccountExpires: u.State.AccountExpires}}
	if pr, ok := a.Directory.(directory.PolicyReader); ok {
		if p, err := pr.PasswordPolicy(ctx, u); err == nil {
			st.Directory.Policy = &LockoutPolicy{Threshold: p.LockoutThreshold, ObservationWindow: p.ObservationWindow.String(),
				Duration: p.LockoutDuration.String(), Source: p.Source}
		} else {
			a.Log.Warn("reading the password policy", "err", err)
		}
	}
	if br, ok := a.Directory.(interface {
		BadPasswordCounts(context.Context, *directory.User) ([]ad.BadPasswordCount, error)
	}); ok {
		if st.Directory.BadPasswords, err = br.BadPasswordCounts(ctx, u); err != nil {
			return err
		}
	}
	names := logins(login, u)
	if st.Gatehouse.Counters, err = abuse.LoginCounters(ctx, a.Store, names, now); err != nil {
		return err
	}
	if st.Gatehouse.SmartLockout, err = a.smartLockoutStatus(ctx, u); err != nil {
		return err
	}
	creds, err := a.Store.ListCredentials(ctx, u.ID)
	if err != nil {
		return err
	}
	st.Gatehouse.Factors = []FactorLine{}
	for _, c := range creds {
		if c.Type == signin.DeviceType {
			st.Gatehouse.RememberedBrowsers++
			continue
		}
		st.Gatehouse.Factors = append(st.Gatehouse.Factors, FactorLine{Method: c.Type, Name: c.Name, Created: c.CreatedAt, LastUsed: c.LastUsedAt})
	}
	sessions, err := a.Store.ListUserSessions(ctx, u.ID, now)
	if err != nil {
		return err
	}
	st.Gatehouse.Sessions = len(sessions)
	evs, err := a.Store.QueryAudit(ctx, store.AuditQuery{UserID: u.ID, Logins: names, Limit: 20})
	if err != nil {
		return err
	}
	st.RecentEvents = auditLines(evs)
	a.recordAdmin(ctx, audit.AdminUserStatus, u, "ok", nil)
	if asJSON {
		return writeJSON(w, st)
	}
	return st.write(w)
}

func (st UserStatus) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("User\t%s (%s)", st.SAM, st.DisplayName)
	p("  UPN\t%s", st.UPN)
	p("  Mail\t%s", st.Mail)
	p("  ID\t%s", st.ID)
	p("  DN\t%s", st.DN)
	p("")
	d := st.Directory
	p("Directory")
	p("  Account\t%s", map[bool]string{false: "enabled", true: "DISABLED"}[d.Disabled])
	switch {
	case !d.Locked:
		p("  Locked out\tno")
	case d.LockedUntil.IsZero():
		p("  Locked out\tYES, until an administrator unlocks")
	default:
		p("  Locked out\tYES, until %s", when(d.LockedUntil))
	}
	dates := "last set " + when(d.PasswordLastSet) + ", expires " + when(d.PasswordExpires)
	if d.MustChange {
		dates += ", MUST CHANGE at next sign-in"
	}
	p("  Password\t%s", dates)
	p("  Account expires\t%s", when(d.AccountExpires))
	if pol := d.Policy; pol != nil {
		if pol.Threshold == 0 {
			p("  Lockout policy\tnone: the directory never locks (%s)", pol.Source)
		} else {
			dur := "for " + pol.Duration
			if pol.Duration == "0s" {
				dur = "until an administrator unlocks"
			}
			p("  Lockout policy\t%d wrong passwords within %s lock %s (%s)", pol.Threshold, pol.ObservationWindow, dur, pol.Source)
		}
	}
	for i, b := range d.BadPasswords {
		label := ""
		if i == 0 {
			label = "  Wrong passwords (badPwdCount)"
		}
		if b.Error != "" {
			p("%s\t%s: no answer (%s)", label, b.DC, b.Error)
		} else {
			p("%s\t%s: %d, last %s", label, b.DC, b.Count, when(b.Last))
		}
	}
	p("")
	g := st.Gatehouse
	p("Gatehouse")
	for i, c := range g.Counters {
		label := ""
		if i == 0 {
			label = "  Wrong passwords (limit)"
		}
		if c.Count == 0 {
			p("%s\t%s: 0", label, c.Login)
		} else {
			p("%s\t%s: %d until %s", label, c.Login, c.Count, when(c.ExpiresAt))
		}
	}
	if sl := g.SmartLockout; sl != nil {
		p("  Wrong passwords (account)\t%d from unfamiliar clients%s", sl.WrongPasswords, untilText(sl.WrongPasswordsUntil))
		p("  Wrong codes\t%d%s", sl.WrongCodes, untilText(sl.WrongCodesUntil))
		closed := ""
		if sl.SelfServiceClosed {
			closed = ": reset and unlock CLOSED until the user signs in or an administrator unlocks"
		}
		p("  Self-service failures\t%d in a row%s", sl.SelfServiceFailures, closed)
	}
	if len(g.Factors) == 0 {
		p("  Factors\tnone enrolled")
	}
	for i, f := range g.Factors {
		label := ""
		if i == 0 {
			label = "  Factors"
		}
		p("%s\t%s %q, enrolled %s, last used %s", label, f.Method, f.Name, when(f.Created), when(f.LastUsed))
	}
	p("  Remembered browsers\t%d", g.RememberedBrowsers)
	p("  Sessions\t%d", g.Sessions)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nRecent events (newest first)")
	if len(st.RecentEvents) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	return writeAuditText(w, st.RecentEvents, "  ")
}

// MFAResetResult is what `gatehouse admin mfa reset` did.
type MFAResetResult struct {
	Login              string   `json:"login"`
	ID                 string   `json:"id"`
	Methods            []string `json:"methods"` // what was asked: the methods removed
	FactorsRemoved     int64    `json:"factors_removed"`
	SessionsEnded      int64    `json:"sessions_ended"`
	BrowsersForgotten  int64    `json:"remembered_browsers_forgotten"`
	EnrolsAtNextSignIn bool     `json:"enrols_at_next_sign_in"`
	// EntraLinksRemoved counts the Entra accounts (external
	// authentication method) the user was linked to, forgotten by a reset
	// of every method: the next Entra request links afresh.
	EntraLinksRemoved int64 `json:"entra_links_removed"`
}

// storedMethods are the second factors kept in the store, which a reset
// can remove (an email code goes to the user's mail address).
func storedMethods() []string {
	return []string{mfa.MethodTOTP, mfa.MethodWebAuthn, mfa.MethodRecovery}
}

// AdminMFAReset removes the user's second factors — all of them, or those
// of method — and ends their sessions and remembered browsers, so the
// next sign-in asks for the password and enrols a factor afresh.
func (a *App) AdminMFAReset(ctx context.Context, w io.Writer, login, method string, asJSON bool) error {
	methods := storedMethods()
	if method != "" {
		if !slices.Contains(methods, method) {
			return fmt.Errorf("--method must be one of %s (email codes go to the user's mail address: there is nothing to remove)",
				strings.Join(methods, ", "))
		}
		methods = []string{method}
	}
	u, err := a.lookupAdmin(ctx, login)
	if err != nil {
		return err
	}
	res := MFAResetResult{Login: login, ID: u.ID, Methods: methods}
	var errs []error
	for _, m := range methods {
		n, err := a.Store.DeleteUserCredentials(ctx, u.ID, m)
		res.FactorsRemoved += n
		errs = append(errs, err)
	}
	var err1, err2 error
	res.SessionsEnded, err1 = a.Store.DeleteUserSessions(ctx, u.ID)
	res.BrowsersForgotten, err2 = a.Store.DeleteUserCredentials(ctx, u.ID, signin.DeviceType)
	errs = append(errs, err1, err2)
	if method == "" {
		var err3 error
		res.EntraLinksRemoved, err3 = a.Store.DeleteUserLinks(ctx, u.ID)
		errs = append(errs, err3)
	}
	left, err := a.Store.ListCredentials(ctx, u.ID)
	errs = append(errs, err)
	res.EnrolsAtNextSignIn = !slices.ContainsFunc(left, func(c store.Credential) bool { return slices.Contains(storedMethods(), c.Type) })
	result := "ok"
	if errors.Join(errs...) != nil {
		result = "store_error"
	}
	a.recordAdmin(ctx, audit.AdminMFAReset, u, result, map[string]string{"methods": strings.Join(methods, " "),
		"factors_removed": strconv.FormatInt(res.FactorsRemoved, 10), "sessions_revoked": strconv.FormatInt(res.SessionsEnded, 10),
		"browsers_forgotten": strconv.FormatInt(res.BrowsersForgotten, 10), "entra_links_removed": strconv.FormatInt(res.EntraLinksRemoved, 10)})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("the reset may be incomplete (run it again): %w", err)
	}
	if asJSON {
		return writeJSON(w, res)
	}
	fmt.Fprintf(w, "Removed %d factor(s) (%s) of %s, ended %d session(s), forgot %d remembered browser(s).\n",
		res.FactorsRemoved, strings.Join(methods, ", "), displayLogin(u), res.SessionsEnded, res.BrowsersForgotten)
	if res.EntraLinksRemoved > 0 {
		fmt.Fprintf(w, "Forgot %d linked Entra account(s): the next request from Entra links the user afresh.\n", res.EntraLinksRemoved)
	}
	if res.EnrolsAtNextSignIn {
		fmt.Fprintln(w, "No factor is left: the next sign-in asks for the password and then enrols a new factor.")
	}
	return nil
}

// UnlockResult is what `gatehouse admin unlock` did.
type UnlockResult struct {
	Login       string    `json:"login"`
	ID          string    `json:"id"`
	WasLocked   bool      `json:"was_locked"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	// DirectoryUnlocked is whether the directory's lockout was cleared
	// (AD: lockoutTime 0, which resets badPwdCount too).
	DirectoryUnlocked bool `json:"directory_unlocked"`
	// CountersCleared are the logins whose Gatehouse counters were reset.
	CountersCleared []string `json:"counters_cleared"`
}

// AdminUnlock clears the user's lockout in the directory and Gatehouse's
// own wrong-password counters for the account's logins.
func (a *App) AdminUnlock(ctx context.Context, w io.Writer, login string, asJSON bool) error {
	u, err := a.lookupAdmin(ctx, login)
	if err != nil {
		return err
	}
	res := UnlockResult{Login: login, ID: u.ID, WasLocked: u.State.Locked, LockedUntil: u.State.LockedUntil}
	unlocker, ok := a.Directory.(directory.Unlocker)
	if !ok {
		return fmt.Errorf("a %s directory cannot unlock accounts", a.Config.Directory.Type)
	}
	dirErr := unlocker.Unlock(ctx, u)
	res.DirectoryUnlocked = dirErr == nil
	names := logins(login, u)
	ctrErr := errors.Join(abuse.Unlock(ctx, a.Store, names), abuse.ResetAccount(ctx, a.Store, u.ID))
	if ctrErr == nil {
		res.CountersCleared = names
	}
	result := "ok"
	switch {
	case dirErr != nil:
		result = "directory_error"
	case ctrErr != nil:
		result = "store_error"
	}
	a.recordAdmin(ctx, audit.AdminUnlock, u, result, map[string]string{"was_locked": strconv.FormatBool(res.WasLocked)})
	if err := errors.Join(dirErr, ctrErr); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(w, res)
	}
	if res.WasLocked {
		fmt.Fprintf(w, "Unlocked %s in the directory (it was locked until %s).\n", displayLogin(u), lockedUntil(res.LockedUntil))
	} else {
		fmt.Fprintf(w, "%s was not locked in the directory; its bad-password count is reset.\n", displayLogin(u))
	}
	fmt.Fprintf(w, "Cleared Gatehouse's wrong-password counters for %s.\n", strings.Join(names, ", "))
	return nil
}

// untilText is " until <when>" for a counter that ends at t, or "".
func untilText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " until " + when(t)
}

func lockedUntil(t time.Time) string {
	if t.IsZero() {
		return "an administrator unlocked it"
	}
	return when(t)
}

// SessionsRevokeResult is what `gatehouse admin sessions revoke` did.
type SessionsRevokeResult struct {
	Login              string `json:"login"`
	ID                 string `json:"id"`
	SessionsEnded      int64  `json:"sessions_ended"`
	RememberedBrowsers int    `json:"remembered_browsers"` // left: they skip only the second factor
}

// AdminSessionsRevoke ends every session of the user on every instance:
// the next request of each asks to sign in again.
func (a *App) AdminSessionsRevoke(ctx context.Context, w io.Writer, login string, asJSON bool) error {
	u, err := a.lookupAdmin(ctx, login)
	if err != nil {
		return err
	}
	n, err := a.Store.DeleteUserSessions(ctx, u.ID)
	if err != nil {
		a.recordAdmin(ctx, audit.AdminSessionsRevoke, u, "store_error", nil)
		return err
	}
	res := SessionsRevokeResult{Login: login, ID: u.ID, SessionsEnded: n}
	if creds, err := a.Store.ListCredentials(ctx, u.ID); err == nil {
		for _, c := range creds {
			if c.Type == signin.DeviceType {
				res.RememberedBrowsers++
			}
		}
	}
	a.recordAdmin(ctx, audit.AdminSessionsRevoke, u, "ok", map[string]string{"sessions_revoked": strconv.FormatInt(n, 10)})
	if asJSON {
		return writeJSON(w, res)
	}
	fmt.Fprintf(w, "Ended %d session(s) of %s.\n", n, displayLogin(u))
	if res.RememberedBrowsers > 0 {
		fmt.Fprintf(w, "%d remembered browser(s) still skip the second factor (not the password); gatehouse admin mfa reset forgets them.\n", res.RememberedBrowsers)
	}
	return nil
}

// AuditLine is one audit event as the admin commands show it.
type AuditLine struct {
	ID        int64             `json:"id"`
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	UserID    string            `json:"user_id,omitempty"`
	Login     string            `json:"login,omitempty"`
	IP        string            `json:"ip,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	App       string            `json:"app,omitempty"`
	Result    string            `json:"result"`
	Reason    string            `json:"reason,omitempty"`
	Familiar  string            `json:"familiar,omitempty"`
	Actor     string            `json:"actor,omitempty"`
	Detail    map[string]string `json:"detail,omitempty"`
	Hash      string            `json:"hash,omitempty"`
}

func auditLines(evs []store.AuditEvent) []AuditLine {
	out := make([]AuditLine, 0, len(evs))
	for _, e := range evs {
		l := AuditLine{ID: e.ID, Time: e.Time, Type: e.Type, UserID: e.UserID, Login: e.Login, IP: e.IP, RequestID: e.RequestID,
			App: e.App, Result: e.Result, Reason: e.Reason, Familiar: e.Familiar, Actor: e.Actor}
		if len(e.Detail) > 0 {
			_ = json.Unmarshal(e.Detail, &l.Detail) // opaque to the store; shown when it is the usual object
		}
		if len(e.Hash) > 0 {
			l.Hash = hex.EncodeToString(e.Hash)
		}
		out = append(out, l)
	}
	return out
}

// writeAuditText writes one line per event.
func writeAuditText(w io.Writer, ls []AuditLine, indent string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range ls {
		who := l.Login
		if who == "" {
			who = l.UserID
		}
		var more []string
		for _, kv := range [][2]string{{"app", l.App}, {"from", l.IP}, {"reason", l.Reason}, {"client", l.Familiar}, {"by", l.Actor}} {
			if kv[1] != "" {
				more = append(more, kv[0]+" "+kv[1])
			}
		}
		keys := make([]string, 0, len(l.Detail))
		for k := range l.Detail {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			more = append(more, k+"="+l.Detail[k])
		}
		fmt.Fprintf(tw, "%s%s\t%d\t%s\t%s\t%s\t%s\n", indent, when(l.Time), l.ID, l.Type, l.Result, who, strings.Join(more, ", "))
	}
	return tw.Flush()
}

// AuditQuery is what `gatehouse admin audit` selects.
type AuditQuery struct {
	// User is a login (as typed at sign-in, ASCII case-insensitively) or
	// a user ID.
	User string
	// Since is a time (RFC 3339, or a date YYYY-MM-DD in UTC) or a
	// duration back from now (24h, 7d).
	Since string
	Type  string
	Limit int // 0: 100
}

// ParseSince reads --since: an RFC 3339 time, a date (UTC midnight), or a
// duration back from now in Go's syntax or in days ("7d").
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a time (2026-05-04T10:00:00Z), a date (2026-05-04) or a duration back from now (24h, 7d)", s)
}

// AdminAudit writes the audit events q selects, newest first: a line each,
// or with asJSON one JSON object per line.
func (a *App) AdminAudit(ctx context.Context, w io.Writer, q AuditQuery, asJSON bool) error {
	since, err := ParseSince(q.Since, a.Now())
	if err != nil {
		return err
	}
	sq := store.AuditQuery{Type: q.Type, Since: since, Limit: q.Limit}
	if q.User != "" {
		sq.UserID, sq.Logins = q.User, []string{q.User}
	}
	evs, err := a.Store.QueryAudit(ctx, sq)
	if err != nil {
		return err
	}
	a.recordAdmin(ctx, audit.AdminAuditQuery, nil, "ok", map[string]string{"user": q.User, "type": q.Type, "since": q.Since,
		"events": strconv.Itoa(len(evs))})
	ls := auditLines(evs)
	if !asJSON {
		return writeAuditText(w, ls, "")
	}
	enc := json.NewEncoder(w)
	for _, l := range ls {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}

// VerifyResult is what `gatehouse admin audit --verify` found.
type VerifyResult struct {
	OK      bool           `json:"ok"`
	Checked int64          `json:"checked"`
	Legacy  int64          `json:"legacy"` // from before the chain: not covered
	FirstID int64          `json:"first_id,omitempty"`
	LastID  int64          `json:"last_id,omitempty"`
	Anchor  ChainPoint     `json:"anchor"` // the chain starts after this event (pruned or legacy before it)
	Head    ChainPoint     `json:"head"`
	Problem *audit.Problem `json:"problem,omitempty"`
}

// ChainPoint is an event of the chain by ID and hash.
type ChainPoint struct {
	ID   int64  `json:"id"`
	Hash string `json:"hash"`
}

// AdminAuditVerify checks the audit trail's hash chain and writes what it
// found. A broken chain returns an error wrapping ErrAuditBroken that
// names the first bad event.
func (a *App) AdminAuditVerify(ctx context.Context, w io.Writer, asJSON bool) error {
	rep, err := audit.Verify(ctx, a.Store)
	if err != nil {
		return err
	}
	res := VerifyResult{OK: rep.Problem == nil, Checked: rep.Chained, Legacy: rep.Legacy, FirstID: rep.FirstID, LastID: rep.LastID,
		Anchor: ChainPoint{rep.Chain.AnchorID, hex.EncodeToString(rep.Chain.AnchorHash)},
		Head:   ChainPoint{rep.Chain.HeadID, hex.EncodeToString(rep.Chain.HeadHash)}, Problem: rep.Problem}
	detail := map[string]string{"checked": strconv.FormatInt(rep.Chained, 10), "head_id": strconv.FormatInt(rep.Chain.HeadID, 10),
		"head_hash": res.Head.Hash}
	result := "ok"
	if rep.Problem != nil {
		result = "broken"
		detail["first_bad_event"] = strconv.FormatInt(rep.Problem.ID, 10)
		detail["problem"] = rep.Problem.Kind
	}
	a.recordAdmin(ctx, audit.AdminAuditVerify, nil, result, detail)
	if asJSON {
		if err := writeJSON(w, res); err != nil {
			return err
		}
	} else {
		res.write(w)
	}
	if rep.Problem != nil {
		return fmt.Errorf("%w: %s", ErrAuditBroken, rep.Problem.Msg)
	}
	return nil
}

func (r VerifyResult) write(w io.Writer) {
	if r.Problem != nil {
		fmt.Fprintf(w, "BROKEN at event %d: %s\n", r.Problem.ID, r.Problem.Msg)
	} else if r.Checked == 0 {
		fmt.Fprintln(w, "Audit trail intact: no chained events yet.")
	} else {
		fmt.Fprintf(w, "Audit trail intact: %d events checked, %d to %d.\n", r.Checked, r.FirstID, r.LastID)
	}
	if r.Anchor.ID > 0 {
		fmt.Fprintf(w, "The chain starts after event %d (earlier events were pruned or predate the chain).\n", r.Anchor.ID)
	}
	if r.Legacy > 0 {
		fmt.Fprintf(w, "%d events from before the chain are not covered.\n", r.Legacy)
	}
	fmt.Fprintf(w, "Head: event %d, hash %s\n", r.Head.ID, r.Head.Hash)
}
