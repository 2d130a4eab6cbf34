package signin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// A second-factor-only flow (Request.SecondFactorOnly) serves an app that
// checked the first factor itself: Microsoft Entra ID sends its user to
// Gatehouse, as its external authentication method, for the second factor
// alone. It runs on the same steps, factors, limits and policy as every
// sign-in, but it must not become one: whoever can make Entra send a
// request (anyone with the user's Entra password) would otherwise gain a
// Gatehouse session without Gatehouse's password. So the flow reads no
// session, issues none, remembers no browser, marks no browser familiar,
// and its result answers only a second-factor-only request.

// FindUser finds the account an app named that checked the user's first
// factor itself (the user of a SecondFactorOnly request), in the directory
// every flow uses, by any login attribute; directory.ErrUserNotFound when
// there is none.
func (e *Engine) FindUser(ctx context.Context, login string) (*directory.User, error) {
	if login == "" || len(login) > maxLoginLen {
		return nil, fmt.Errorf("signin: a login of %d bytes: %w", len(login), directory.ErrUserNotFound)
	}
	return e.dir.LookupUser(ctx, login)
}

// startSecondFactorOnly starts the flow for req.KnownUser at the step the
// policy asks for (the second factor, or enrolment) and shows it.
func (e *Engine) startSecondFactorOnly(w http.ResponseWriter, r *http.Request, req Request) error {
	ctx := r.Context()
	u := req.KnownUser
	if u == nil {
		// A resumed request whose flow is gone: nothing to resume, and
		// nothing to start without the user the app named.
		return web.Errorf(http.StatusBadRequest, "error.signin_broken",
			fmt.Errorf("signin: a second-factor-only request for %s without its user", req.App)).Then(web.NextHome)
	}
	now := e.now()
	login := firstNonEmpty(u.UPN, u.SAMAccountName)
	// The account's state, as for a session: a first factor checked
	// elsewhere does not mean the account may sign in here. A password
	// that must change or has expired is the app's to enforce.
	switch problem := accountProblem(u.State, now); problem {
	case "account_disabled", "account_expired", "account_locked":
		e.audit.Record(ctx, audit.Event{Type: audit.SignInFailure, UserID: u.ID, Login: login, App: req.App, Result: problem,
			Detail: map[string]string{"first_factor": "app"}})
		key := map[string]string{"account_disabled": "login.disabled", "account_expired": "login.account_expired",
			"account_locked": "login.locked"}[problem]
		return web.Errorf(http.StatusForbidden, key, fmt.Errorf("signin: %s for %s: %s", req.App, u.ID, problem))
	}
	enrolled, err := e.enrolled(ctx, u)
	if err != nil {
		return err
	}
	if d := e.decide(req, u, enrolled, false, policy.Proof{Since: now}); d.Denied {
		return e.deny(ctx, req, &Result{User: *u}, d)
	}
	req.KnownUser = nil
	st := flowState{Req: req, Binding: hashBinding(e.ensureBinding(w, r)), User: u, Login: login}
	step, err := e.afterPrimary(ctx, &st, now)
	if err != nil {
		return err
	}
	if step != StepMFA && step != StepEnrol {
		return fmt.Errorf("signin: a second-factor-only flow for %s would start at %q", u.ID, step)
	}
	f, err := e.createFlow(ctx, step, st)
	if err != nil {
		return err
	}
	return e.renderStep(w, e.csrf.Ensure(w, r), f, st, http.StatusOK, nil)
}

// finishSecondFactorOnly ends a second-factor-only flow: no session, no
// remembered or familiar browser; the result goes to the protocol's
// endpoint in place, or waits in the finished flow for its ResumeParam.
func (e *Engine) finishSecondFactorOnly(ctx context.Context, w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	st.Pending, st.Remember = nil, false
	inPlace, err := e.claimDone(ctx, w, r, f, st)
	if err != nil || inPlace == nil {
		return err
	}
	res := secondFactorResult(f, st)
	e.audit.Record(ctx, audit.Event{Type: audit.SignInSuccess, UserID: st.User.ID, Login: st.Login, App: st.Req.App, Result: "ok",
		Detail: map[string]string{"amr": strings.Join(res.Methods, " "), "first_factor": "app"}})
	e.deliver(w, r, f, st, res, *inPlace)
	return nil
}

// secondFactorResult is the result of the finished second-factor-only
// flow f: the second factor and nothing else (no session, no password
// time).
func secondFactorResult(f store.Flow, st flowState) *Result {
	methods := slices.Clone(st.Methods)
	if !st.MFAAt.IsZero() && !slices.Contains(methods, "mfa") {
		methods = append(methods, "mfa")
	}
	return &Result{User: *st.User, MFATime: st.MFAAt, Methods: methods, State: st.Req.State, factors: slices.Clone(st.Factors),
		flowStart: f.CreatedAt, secondFactorOnly: true}
}
