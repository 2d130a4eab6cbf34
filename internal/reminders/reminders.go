package reminders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// TicketKind is the kind of the store ticket that records a sent reminder.
// Its ID is "<user ID>/<pwdLastSet>/<window>d".
const TicketKind = "reminder.password_expiry"

// ticketGrace keeps a reminder's ticket a day past the password's expiry:
// until then the user is listed, so the ticket must outlive that.
const ticketGrace = 24 * time.Hour

// releaseTimeout bounds giving a claim back after a failed send, which
// runs even when the caller's context has ended.
const releaseTimeout = 10 * time.Second

// Mailer sends the reminder; *notify.Notifier is one.
type Mailer interface {
	PasswordExpiry(ctx context.Context, to notify.Recipient, d notify.PasswordExpiry) error
}

// Store is what reminders keep: a ticket per reminder sent, and the audit
// trail (which a dry run reads to tell what was already sent).
type Store interface {
	store.Tickets
	store.Audit
}

// Options are what Run needs.
type Options struct {
	Directory directory.ExpiryLister
	Store     Store
	// Notifier sends the mail; it may be nil for a dry run.
	Notifier Mailer
	// Audit records each mail sent; nil means a recorder on Store.
	Audit *audit.Recorder
	// Windows are the days before expiry at which a user is reminded,
	// e.g. [14, 7, 1] (config reminders.days), in any order.
	Windows []int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Location is where days are counted (config ui.time_zone): a password
	// expiring tomorrow morning is in the 1-day window tonight. nil: UTC.
	Location *time.Location
	// DryRun sends and records nothing; the report says what would be sent.
	DryRun bool
	// ChangeURL is the link in the mail; "" means the notifier's default,
	// <issuer>/password/change.
	ChangeURL string
	Log       *slog.Logger
}

// Status is what happened for one user.
type Status string

// The statuses.
const (
	StatusSent        Status = "sent"
	StatusSkipped     Status = "skipped" // due, but a dry run: not sent
	StatusAlreadySent Status = "already-sent"
	StatusFailed      Status = "failed"
)

// Result is one user's line of the report.
type Result struct {
	User    *directory.User
	Login   string
	Expires time.Time
	Window  int // days
	Status  Status
	Err     error // with StatusFailed
}

// Report lists every user whose password expires within the largest
// window, soonest first.
type Report struct {
	DryRun  bool
	Results []Result
}

// Count returns how many users ended with s.
func (r Report) Count(s Status) int {
	n := 0
	for _, x := range r.Results {
		if x.Status == s {
			n++
		}
	}
	return n
}

// Write writes one line per user and a summary to w, or nothing when a
// real run had nothing to send (so cron mails no one).
func (r Report) Write(w io.Writer) {
	if !r.DryRun && r.Count(StatusSent) == 0 && r.Count(StatusFailed) == 0 {
		return
	}
	width := len("login")
	for _, x := range r.Results {
		width = max(width, len(x.Login))
	}
	for _, x := range r.Results {
		status := string(x.Status)
		switch x.Status {
		case StatusSkipped:
			status += " (dry run)"
		case StatusFailed:
			status += ": " + x.Err.Error()
		}
		fmt.Fprintf(w, "%-*s  expires %s  %3d-day window  %s\n", width, x.Login, x.Expires.UTC().Format("2006-01-02 15:04 MST"), x.Window, status)
	}
	note := ""
	if r.DryRun {
		note = " (dry run: nothing sent)"
	}
	fmt.Fprintf(w, "%d users: %d sent, %d skipped, %d already sent, %d failed%s\n", len(r.Results),
		r.Count(StatusSent), r.Count(StatusSkipped), r.Count(StatusAlreadySent), r.Count(StatusFailed), note)
}

// Err joins the failures, or is nil when there was none.
func (r Report) Err() error {
	var errs []error
	for _, x := range r.Results {
		if x.Status == StatusFailed {
			errs = append(errs, fmt.Errorf("%s: %w", x.Login, x.Err))
		}
	}
	return errors.Join(errs...)
}

// Run reminds every user whose password expires within the largest window,
// in the smallest window that holds the expiry, once per window and
// password. A failure for one user is in the report and the others go on;
// the error is for what stops the whole run (bad options, the directory,
// ctx ending).
//
// A reminder is claimed in the store before it is mailed, so two runs at
// once cannot both send it, and given back when the mail server did not
// accept it, so the next run tries again: a ticket stays only for a mail
// that was accepted.
func Run(ctx context.Context, o Options) (Report, error) {
	rep := Report{DryRun: o.DryRun}
	windows, err := normalize(o.Windows)
	if err != nil {
		return rep, err
	}
	switch {
	case o.Directory == nil:
		return rep, errors.New("reminders: the directory cannot list expiring passwords")
	case o.Store == nil:
		return rep, errors.New("reminders: no store")
	case o.Notifier == nil && !o.DryRun:
		return rep, errors.New("reminders: no mailer (configure smtp)")
	}
	r := runner{Options: o}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if r.Audit == nil {
		r.Audit = audit.New(r.Store, r.Log, r.Now)
	}
	now := r.Now()
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	// Up to the end of the largest window's last day; window() decides.
	users, err := r.Directory.ListExpiring(ctx, now, now.Add(days(windows[len(windows)-1]+1)))
	if err != nil {
		return rep, fmt.Errorf("reminders: %w", err)
	}
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("reminders: stopped after %d of %d users: %w", len(rep.Results), len(users), err)
		}
		w, ok := window(windows, now.In(loc), u.State.PasswordExpires.In(loc))
		if !ok {
			continue
		}
		res := Result{User: u, Login: login(u), Expires: u.State.PasswordExpires, Window: w}
		res.Status, res.Err = r.remind(ctx, u, w, now)
		if res.Status == StatusFailed {
			r.Log.WarnContext(ctx, "expiry reminder not sent", "event", "reminder.fail", "user", res.Login,
				"window_days", w, "err", res.Err)
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// normalize sorts the windows and drops duplicates.
func normalize(in []int) ([]int, error) {
	if len(in) == 0 {
		return nil, errors.New("reminders: no reminder windows (reminders.days)")
	}
	out := slices.Clone(in)
	slices.Sort(out)
	if out[0] < 1 {
		return nil, fmt.Errorf("reminders: a reminder window must be at least 1 day, got %d", out[0])
	}
	return slices.Compact(out), nil
}

// window picks, from windows sorted ascending, the smallest that holds an
// expiry, counted in calendar days from now in their time zone: with
// [1 7 14], tomorrow (at any hour) is the 1-day window, six days ahead the
// 7-day one. A daily run thus mails each window on its day, not a day late
// when the expiry's hour is just after the run's. A password that has
// expired, or expires beyond the largest window, has none.
func window(windows []int, now, expires time.Time) (int, bool) {
	if !expires.After(now) {
		return 0, false
	}
	y1, m1, d1 := now.Date()
	y2, m2, d2 := expires.Date()
	left := int(time.Date(y2, m2, d2, 0, 0, 0, 0, time.UTC).Sub(time.Date(y1, m1, d1, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	for _, w := range windows {
		if left <= w {
			return w, true
		}
	}
	return 0, false
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func login(u *directory.User) string {
	if u.SAMAccountName != "" {
		return u.SAMAccountName
	}
	return u.UPN
}

type runner struct{ Options }

// passwordVersion names the password a reminder is about: when it was
// set, so that a new password starts its reminders over.
func passwordVersion(u *directory.User) string {
	v := u.State.PasswordLastSet
	if v.IsZero() {
		v = u.State.PasswordExpires // changes with the password too
	}
	return v.UTC().Format(time.RFC3339Nano)
}

func ticketID(u *directory.User, w int) string {
	return u.ID + "/" + passwordVersion(u) + "/" + strconv.Itoa(w) + "d"
}

func (r *runner) remind(ctx context.Context, u *directory.User, w int, now time.Time) (Status, error) {
	if r.DryRun {
		sent, err := r.sentBefore(ctx, u, w)
		switch {
		case err != nil:
			return StatusFailed, err
		case sent:
			return StatusAlreadySent, nil
		}
		return StatusSkipped, nil
	}
	id := ticketID(u, w)
	data, _ := json.Marshal(map[string]any{"window_days": w, "expires": u.State.PasswordExpires.UTC()})
	err := r.Store.CreateTicket(ctx, store.Ticket{Kind: TicketKind, ID: id, UserID: u.ID, Data: data,
		CreatedAt: now, ExpiresAt: u.State.PasswordExpires.Add(ticketGrace)})
	switch {
	case errors.Is(err, store.ErrConflict):
		return StatusAlreadySent, nil
	case err != nil:
		return StatusFailed, fmt.Errorf("record the reminder: %w", err)
	}
	err = r.Notifier.PasswordExpiry(ctx, notify.Recipient{Address: u.Mail, Name: u.DisplayName},
		notify.PasswordExpiry{Expires: u.State.PasswordExpires, ChangeURL: r.ChangeURL})
	if err != nil {
		// Not accepted: give the claim back so that the next run retries.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if _, rerr := r.Store.ConsumeTicket(rctx, TicketKind, id, now); rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
			err = errors.Join(err, fmt.Errorf("the reminder stays recorded as sent, so this window will not be retried: %w", rerr))
		}
		return StatusFailed, err
	}
	r.Audit.Record(ctx, audit.Event{Type: audit.ExpiryReminder, UserID: u.ID, Login: login(u), Result: "ok", Detail: map[string]string{
		"window_days":      strconv.Itoa(w),
		"expires":          u.State.PasswordExpires.UTC().Format(time.RFC3339),
		"password_version": passwordVersion(u),
		"to":               notify.MaskAddress(u.Mail),
	}})
	return StatusSent, nil
}

// sentBefore reports, for a dry run, whether this window's reminder for
// this password was sent. Tickets cannot be read without claiming them, so
// it reads the audit trail, which every sent reminder is added to.
func (r *runner) sentBefore(ctx context.Context, u *directory.User, w int) (bool, error) {
	evs, err := r.Store.QueryAudit(ctx, store.AuditQuery{UserID: u.ID, Type: audit.ExpiryReminder, Since: u.State.PasswordLastSet, Limit: 1000})
	if err != nil {
		return false, fmt.Errorf("read the audit trail: %w", err)
	}
	version, window := passwordVersion(u), strconv.Itoa(w)
	for _, e := range evs {
		var d map[string]string
		if json.Unmarshal(e.Detail, &d) == nil && d["password_version"] == version && d["window_days"] == window {
			return true, nil
		}
	}
	return false, nil
}
