package signin

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// NewPasswordForm is what the new-password fields of a page show: the
// effective policy in words, and what the page's script (password.js)
// needs to check each rule as the user types. The server checks them all
// again on submit; the script only helps.
type NewPasswordForm struct {
	Rules []Rule
	// Names are the name parts the password must not contain (AD's
	// complexity rule), comma-separated; the user's own, so safe to show.
	Names string
	// Focus is the field of the two the page focuses ("new_password" or
	// "confirm_password"); "" when another field of the page has it.
	Focus string
	// New and Confirm are what the fields show again after a refusal:
	// only values that were right (Refill).
	New, Confirm string
}

// Names of a password form's fields, also the keys of their errors.
const (
	FieldCurrent = "current_password"
	FieldNew     = "new_password"
	FieldConfirm = "confirm_password"
)

// PasswordFields are the values of a password form's fields.
type PasswordFields struct {
	Current, New, Confirm string
}

// Refill decides what a password form shows again after the field wrong
// (FieldCurrent, FieldNew or FieldConfirm) was refused: the fields that
// were right keep what the user typed, so only the wrong one is typed
// again — the page focuses it, empty. A current password that was wrong
// clears only itself; a new one the policy refused clears itself and its
// confirmation; a confirmation that did not match clears only itself.
// Nothing wrong is ever put back, and the current password only once the
// directory accepted it (currentRight); a value longer than a password
// may be is not put back either.
//
// The values go back as the value attributes of the password inputs, as
// most identity providers do: only to the browser that has just sent
// them, in a page that is never cached (web.Renderer.Render sends
// Cache-Control: no-store) and never logged. The alternative — a sealed
// copy in the flow or a cookie — would keep a password on the server or
// in the browser longer than the page that shows it.
func Refill(wrong string, typed PasswordFields, currentRight bool) PasswordFields {
	keep := func(v string) string {
		if len(v) > maxPasswordLen {
			return ""
		}
		return v
	}
	var out PasswordFields
	if currentRight && wrong != FieldCurrent {
		out.Current = keep(typed.Current)
	}
	switch wrong {
	case FieldCurrent:
		out.New, out.Confirm = keep(typed.New), keep(typed.Confirm)
	case FieldConfirm:
		out.New = keep(typed.New)
	}
	return out
}

// Rule is one rule of the policy: Kind (min_length, complexity, name,
// history, strength) and Value tell the script what to check.
type Rule struct {
	Kind, Value, Text string
}

// NewPasswordForm words the user's effective policy and Gatehouse's own
// checks for the page, in the page's language. focus is the field the
// page focuses (see NewPasswordForm.Focus); kept are the values to show
// again (Refill), New and Confirm of them used here.
func (e *Engine) NewPasswordForm(pol directory.Policy, u *directory.User, p *web.Page, focus string, kept PasswordFields) NewPasswordForm {
	f := NewPasswordForm{Focus: focus, New: kept.New, Confirm: kept.Confirm}
	add := func(kind, value, text string) { f.Rules = append(f.Rules, Rule{Kind: kind, Value: value, Text: text}) }
	if pol.MinLength > 0 {
		add("min_length", strconv.Itoa(pol.MinLength), p.T("change.rule_length", "count", pol.MinLength))
	}
	if pol.Complexity {
		add("complexity", "3", p.T("change.rule_complexity"))
		add("name", "", p.T("change.rule_name"))
		if u != nil {
			f.Names = strings.Join(directory.NameParts(u), ",")
		}
	}
	if pol.HistoryLength > 1 {
		add("history", "", p.T("change.rule_history", "count", pol.HistoryLength))
	} else if pol.HistoryLength == 1 {
		add("history", "", p.T("change.rule_history_one"))
	}
	if e.pwcheck != nil && (e.pwcheck.Breached != nil || e.pwcheck.MinScore > 0) {
		add("strength", "", p.T("change.rule_strength"))
	}
	return f
}

// CheckNewPassword applies the directory's policy, then Gatehouse's own
// checks; it returns what the password breaks, worded for the user.
func (e *Engine) CheckNewPassword(pol directory.Policy, pw string, u *directory.User) []directory.PolicyViolation {
	if v := pol.Check(pw, u); len(v) > 0 {
		return v
	}
	return e.pwcheck.Check(pw, u)
}

// PolicyMessage words the rules a new password broke in the page's
// language, with pol's numbers; a reason it has no words for keeps the
// directory's (English) wording.
func PolicyMessage(p *web.Page, pol directory.Policy, v []directory.PolicyViolation) string {
	msgs := make([]string, 0, len(v))
	for _, x := range v {
		msg := x.Message
		switch x.Reason {
		case directory.ReasonTooShort:
			if pol.MinLength > 0 {
				msg = p.T("policy.too_short", "count", pol.MinLength)
			}
		case directory.ReasonComplexity:
			msg = p.T("policy.complexity")
		case directory.ReasonContainsName:
			msg = p.T("policy.contains_name")
		case directory.ReasonHistory:
			msg = p.T("policy.history_one")
			if pol.HistoryLength > 1 {
				msg = p.T("policy.history", "count", pol.HistoryLength)
			}
		case directory.ReasonTooYoung:
			switch {
			case pol.MinAge >= 48*time.Hour:
				msg = p.T("policy.too_young_days", "days", int(pol.MinAge.Hours()/24))
			case pol.MinAge >= 2*time.Hour:
				msg = p.T("policy.too_young_hours", "hours", int(pol.MinAge.Hours()))
			default:
				msg = p.T("policy.too_young_soon")
			}
		case directory.ReasonBreached:
			msg = p.T("policy.breached")
		case directory.ReasonWeak:
			msg = p.T("policy.weak")
		case directory.ReasonUnknownRefusal:
			msg = p.T("policy.refused")
		}
		msgs = append(msgs, msg)
	}
	return strings.Join(msgs, " ")
}

// Limit on strength checks per client address: generous for a person
// typing (the script asks at most every few hundred milliseconds), far too
// few to use this as a cracking oracle.
const (
	strengthPerIP  = 300
	strengthWindow = 15 * time.Minute
)

type strengthAnswer struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
}

// postStrength answers the page's script as the user types: is this
// password breached or too easy to guess? It knows no user, so the user's
// name parts are checked by the script and again on submit.
func (e *Engine) postStrength(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Content-Type", "application/json")
	key := "pwstrength:ip:" + observe.ClientIP(ctx)
	c, err := e.throttle.IncrementCounter(ctx, key, e.now(), strengthWindow)
	switch {
	case err != nil:
		e.log.ErrorContext(ctx, "strength throttle", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case c.Count > strengthPerIP:
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	pw := r.PostFormValue("password")
	p := e.render.NewPage(r, "change.title", nil)
	var ans strengthAnswer
	if len(pw) > maxPasswordLen {
		ans.Message = p.T("policy.too_long")
	} else if v := e.pwcheck.Check(pw, nil); len(v) > 0 {
		ans.Message = PolicyMessage(&p, directory.Policy{}, v)
	} else {
		ans.OK = true
	}
	_ = json.NewEncoder(w).Encode(ans)
}
