package signin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// pendingFactor is a factor's in-progress state inside the flow.
type pendingFactor struct {
	Method string `json:"method"`
	Data   []byte `json:"data,omitempty"`
	// Recovery codes to show once after a first enrolment, sealed.
	Recovery []byte `json:"recovery,omitempty"`
}

func (e *Engine) pending(st flowState) pendingFactor {
	var p pendingFactor
	if len(st.Pending) > 0 {
		_ = json.Unmarshal(st.Pending, &p)
	}
	return p
}

// chooseMethod picks the method to show: the one asked for (if offered),
// else the pending one, else the first offered.
func chooseMethod(asked string, offered []string, pending string) string {
	switch {
	case asked != "" && slices.Contains(offered, asked):
		return asked
	case pending != "" && slices.Contains(offered, pending):
		return pending
	case len(offered) > 0:
		return offered[0]
	}
	return ""
}

// showsChooser reports whether the enrolment step shows the chooser, every
// method the user may set up as equals, each leading to its page
// (?method=), which links back (?choose): when more than one is offered
// and none is asked for or begun. pending is the flow's pending method,
// which may be none of the offered ones (the identify page's passkey
// offer).
func showsChooser(offered []string, q url.Values, pending string) bool {
	switch {
	case len(offered) < 2:
		return false
	case q.Has("choose"):
		return true
	}
	return !slices.Contains(offered, q.Get("method")) && !slices.Contains(offered, pending)
}

func (e *Engine) offered(r *http.Request, step string, st flowState) ([]string, error) {
	switch {
	case step == StepEnrol:
		return e.factors.Enrollable(), nil
	case st.enrolled != nil:
		return st.enrolled, nil
	}
	m, err := e.factors.Enrolled(r.Context(), st.User)
	if st.Req.SecondFactorOnly {
		return e.pol.SecondFactorOnlyAcceptable(m), err
	}
	return e.pol.Acceptable(m), err
}

func (e *Engine) renderFactorStep(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState, p *web.Page, d *loginData, status int) error {
	ctx := r.Context()
	if f.Step == StepRecoveryCodes {
		return e.renderRecoveryCodes(w, f, st, p, status)
	}
	offered, err := e.offered(r, f.Step, st)
	if err != nil {
		return err
	}
	pf := e.pending(st)
	start := pf.Method
	if f.Step == StepEnrol && st.Req.AddFactor != "" && !slices.Contains(offered, start) {
		start = st.Req.AddFactor // the method the user came to add
	}
	d.Adding = st.Req.AddFactor != ""
	q := r.URL.Query()
	if f.Step == StepEnrol && showsChooser(offered, q, start) {
		// Nothing begins until a method is chosen, and a method begun
		// earlier keeps its pending state (the same key) for when it is
		// chosen again.
		d.Methods = offered
		return e.render.Render(w, "login_enrol", status, *p)
	}
	method := chooseMethod(q.Get("method"), offered, start)
	d.Methods, d.Method = offered, method
	// A second-factor-only flow issues no session, so it remembers no
	// browser either.
	d.Remember = f.Step == StepMFA && e.sessions.RemembersBrowsers() && !st.Req.SecondFactorOnly
	// Recovery codes as the only way left means the user's last method was
	// removed (by them or an administrator): the page says so and what to
	// do next.
	d.OnlyRecovery = f.Step == StepMFA && len(offered) == 1 && offered[0] == mfa.MethodRecovery
	var prev []byte
	if method == pf.Method {
		prev = pf.Data
	}
	var data []byte
	if f.Step == StepEnrol {
		data, err = e.factors.BeginEnrol(ctx, r, st.User, method, prev, p)
	} else {
		data, err = e.factors.Challenge(ctx, r, st.User, method, prev, p)
	}
	if err != nil {
		return err
	}
	if method != pf.Method || string(data) != string(pf.Data) {
		raw, _ := json.Marshal(pendingFactor{Method: method, Data: data})
		st.Pending = raw
		if err := e.saveFlow(ctx, f.ID, f.Step, f.Step, st); err != nil {
			return e.staleOr(w, r, f, err)
		}
	}
	name := "login_mfa"
	if f.Step == StepEnrol {
		name = "login_enrol"
	}
	return e.render.Render(w, name, status, *p)
}

func (e *Engine) postFactor(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	ctx := r.Context()
	if f.Step == StepRecoveryCodes {
		st.Pending = nil
		if st.MustChange != "" {
			// An expired or must-change password enrolled its first factor
			// first; the change step is still ahead (afterPrimary).
			return e.advance(ctx, w, r, f, st)
		}
		return e.finish(ctx, w, r, f, st)
	}
	pf := e.pending(st)
	// The pending method is the one the page offered, chosen server-side
	// from the user's factors (renderFactorStep); Verify checks the factor
	// is still there, so only an enrolment re-checks what is offered.
	ok := pf.Method != "" && r.PostFormValue("method") == pf.Method
	if ok && f.Step == StepEnrol {
		ok = slices.Contains(e.factors.Enrollable(), pf.Method)
	}
	if !ok {
		http.Redirect(w, r, "/login?flow="+f.ID, http.StatusSeeOther)
		return nil
	}
	var amr string
	var err error
	var recovery []string
	if f.Step == StepEnrol {
		amr, recovery, err = e.factors.FinishEnrol(ctx, r, st.User, pf.Method, pf.Data)
	} else {
		amr, err = e.factors.Verify(ctx, r, st.User, pf.Method, pf.Data)
	}
	if err != nil {
		var ue UserError
		if errors.As(err, &ue) {
			detail := map[string]string{"method": pf.Method}
			if f.Step == StepEnrol {
				detail["step"] = StepEnrol // setting a method up, not signing in with it
			}
			e.audit.Record(ctx, audit.Event{Type: audit.SignInMFAFailure, UserID: st.User.ID, Login: st.Login, App: st.Req.App,
				Result: ue.Reason, Detail: detail})
			p := e.render.NewPage(r, "mfa.title", &loginData{FlowID: f.ID, Step: f.Step, Login: st.Login})
			setRetryAfter(w, ue.RetryAfter)
			return e.renderStep(w, r, f, st, ue.Status, map[string]string{"code": p.T(ue.MessageKey)})
		}
		return err
	}
	if f.Step == StepEnrol {
		e.audit.Record(ctx, audit.Event{Type: audit.FactorEnrolled, UserID: st.User.ID, Login: st.Login, Result: "ok",
			Detail: map[string]string{"method": pf.Method}})
		st.Added = true
	} else {
		e.audit.Record(ctx, audit.Event{Type: audit.MFAUsed, UserID: st.User.ID, Login: st.Login, App: st.Req.App, Result: "ok",
			Detail: map[string]string{"method": pf.Method}})
	}
	st.MFAAt = e.now()
	if !slices.Contains(st.Factors, pf.Method) {
		st.Factors = append(st.Factors, pf.Method)
	}
	if amr != "" && !slices.Contains(st.Methods, amr) {
		st.Methods = append(st.Methods, amr)
	}
	if f.Step == StepMFA && r.PostFormValue("remember") == "1" && e.sessions.RemembersBrowsers() && !st.Req.SecondFactorOnly {
		st.Remember = true
	}
	st.Pending = nil
	if len(recovery) > 0 {
		raw, _ := json.Marshal(recovery)
		sealed, _ := json.Marshal(pendingFactor{Method: "recovery", Recovery: e.box.Seal(raw, []byte("recovery:"+f.ID))})
		st.Pending = sealed
		return e.moveTo(ctx, w, r, f, StepRecoveryCodes, st)
	}
	return e.advance(ctx, w, r, f, st)
}

func (e *Engine) renderRecoveryCodes(w http.ResponseWriter, f store.Flow, st flowState, p *web.Page, status int) error {
	pf := e.pending(st)
	raw, err := e.box.Open(pf.Recovery, []byte("recovery:"+f.ID))
	if err != nil {
		return err
	}
	var codes []string
	if err := json.Unmarshal(raw, &codes); err != nil {
		return err
	}
	p.Title = "recovery.title"
	p.Data = &loginData{FlowID: f.ID, Step: f.Step, Login: st.Login, Extra: codes}
	return e.render.Render(w, "login_recovery_codes", status, *p)
}

// UserError is a factor failure to show on the page: Reason is audited,
// MessageKey is the catalog key shown (uniform for wrong, expired and
// replayed codes), Status is the HTTP status.
type UserError struct {
	Reason     string
	MessageKey string
	Status     int
	// RetryAfter is how long a throttled user should wait (0: unknown).
	RetryAfter time.Duration
}

// setRetryAfter tells a throttled client when to come back, in whole
// minutes: a real and an unknown account throttled a moment apart get the
// same answer.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d <= 0 {
		return
	}
	minutes := (d + time.Minute - 1) / time.Minute
	w.Header().Set("Retry-After", strconv.Itoa(int(minutes)*60))
}

func (u UserError) Error() string { return "signin: " + u.Reason }
