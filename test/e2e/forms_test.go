package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// formState is a page's form as the user and a screen reader find it once
// the page has loaded: which element has the focus, and for each field or
// button with an id in main, whether it holds a value, whether it is
// marked invalid, and the visible text of what describes it
// (aria-describedby, in order).
type formState struct {
	Active    string            `json:"active"`
	Headings  []int             `json:"headings"` // the levels of the page's headings, in order
	Filled    map[string]bool   `json:"filled"`
	Invalid   map[string]bool   `json:"invalid"`
	Described map[string]string `json:"described"`
}

// formStateJS reads a formState after the page's load event and two
// frames, by when the browser has given the autofocus field the focus.
const formStateJS = `new Promise(function (done) {
  function state() {
    var s = {active: document.activeElement ? document.activeElement.id : '', filled: {}, invalid: {}, described: {},
      headings: Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6')).map(function (h) { return Number(h.tagName[1]); })};
    document.querySelectorAll('main input:not([type=hidden]), main button').forEach(function (el) {
      if (!el.id) { return; }
      s.filled[el.id] = el.tagName === 'INPUT' && el.value !== '';
      s.invalid[el.id] = el.getAttribute('aria-invalid') === 'true';
      s.described[el.id] = (el.getAttribute('aria-describedby') || '').split(' ').filter(Boolean).map(function (id) {
        var d = document.getElementById(id);
        return d && d.checkVisibility() ? d.innerText.trim() : '';
      }).filter(Boolean).join(' | ');
    });
    return s;
  }
  function settle() { requestAnimationFrame(function () { requestAnimationFrame(function () { done(state()); }); }); }
  if (document.readyState === 'complete') { settle(); } else { addEventListener('load', settle); }
})`

// formState reads the page's formState, and fails the test unless the
// page has one h1 (the layout's) and skips no heading level.
func (b *Browser) formState() formState {
	b.t.Helper()
	s := Run(b, chromedp.Evaluate[formState](formStateJS, chromedp.EvalAwaitPromise))
	ok := len(s.Headings) > 0 && s.Headings[0] == 1
	for i := 1; ok && i < len(s.Headings); i++ {
		ok = s.Headings[i] != 1 && s.Headings[i] <= s.Headings[i-1]+1
	}
	if !ok {
		b.t.Errorf("the page's headings are h%v: want one h1 first, and no level skipped", s.Headings)
	}
	return s
}

// submitForm submits the form of the field with id and waits for the page
// that answers it.
func submitForm(b *Browser, id string) {
	b.t.Helper()
	b.Do(chromedp.Evaluate[chromedp.Void](`document.documentElement.setAttribute('data-stale', '')`),
		chromedp.Submit(chromedp.ID(id)), chromedp.WaitVisible(chromedp.CSS(`html:not([data-stale]) main`)))
}

// expectFocused checks a page that asks for its first field: id has the
// focus and nothing is marked invalid.
func expectFocused(t *testing.T, b *Browser, id string) {
	t.Helper()
	s := b.formState()
	if s.Active != id {
		t.Errorf("the focus is on %q, want %q", s.Active, id)
	}
	for f, bad := range s.Invalid {
		if bad {
			t.Errorf("%s is marked invalid before any submit", f)
		}
	}
}

// expectRefusal checks the page after a refused submit: the wrong field
// has the focus, is empty and aria-invalid, and its aria-describedby
// names visible text holding msg (so a screen reader reads the error as
// the focus lands); of the other fields, those in kept hold a value and
// the rest are empty, and none is marked invalid.
// refuseNewPasswords sends a new password that is too short, then next
// with a confirmation that differs: each refusal keeps what was right and
// focuses the wrong field; next stays typed in the new-password field.
func refuseNewPasswords(t *testing.T, b *Browser, next string) {
	t.Helper()
	fields := []string{"new_password", "confirm_password"}
	b.Do(chromedp.SendKeys(chromedp.ID("new_password"), "Ab1!x"), chromedp.SendKeys(chromedp.ID("confirm_password"), "Ab1!x"))
	submitForm(b, "new_password")
	expectRefusal(t, b, "new_password", "Use at least 7 characters.", fields)
	b.ExpectProblem("422")
	b.Do(chromedp.SendKeys(chromedp.ID("new_password"), next), chromedp.SendKeys(chromedp.ID("confirm_password"), "typo"))
	submitForm(b, "new_password")
	expectRefusal(t, b, "confirm_password", "The two passwords are not the same.", fields, "new_password")
	b.ExpectProblem("422")
}

func expectRefusal(t *testing.T, b *Browser, wrong, msg string, fields []string, kept ...string) {
	t.Helper()
	s := b.formState()
	if s.Active != wrong {
		t.Errorf("the focus is on %q, want the wrong field %q", s.Active, wrong)
	}
	if !s.Invalid[wrong] {
		t.Errorf("%s is not aria-invalid", wrong)
	}
	if !strings.Contains(s.Described[wrong], msg) {
		t.Errorf("%s is described by %q, want the visible error %q", wrong, s.Described[wrong], msg)
	}
	for _, f := range fields {
		if _, ok := s.Filled[f]; !ok {
			t.Fatalf("no field %s on the page: %+v", f, s)
		}
		if want := slices.Contains(kept, f); s.Filled[f] != want {
			t.Errorf("%s holds a value: %v, want %v", f, s.Filled[f], want)
		}
		if f != wrong && s.Invalid[f] {
			t.Errorf("%s is aria-invalid though it was right", f)
		}
	}
}

// controlNames lists the accessible names of the page's buttons and
// links, as Chromium computes them for assistive technology.
func controlNames(t *testing.T, b *Browser) []string {
	t.Helper()
	tree, err := chromedp.Call(b.Context(), accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatalf("Accessibility.getFullAXTree: %v", err)
	}
	var names []string
	for _, n := range tree.Nodes {
		if n.Ignored || n.Role == nil || n.Name == nil {
			continue
		}
		var role, name string
		_ = json.Unmarshal(n.Role.Value, &role)
		_ = json.Unmarshal(n.Name.Value, &name)
		if role == "button" || role == "link" {
			names = append(names, name)
		}
	}
	return names
}

// expectDistinctControls fails when two buttons or links of the page have
// the same accessible name, or one has none, or one named in want is
// missing.
func expectDistinctControls(t *testing.T, b *Browser, page string, want ...string) {
	t.Helper()
	names := controlNames(t, b)
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("%s: no button or link named %q among %q", page, w, names)
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		if strings.TrimSpace(n) == "" || seen[n] {
			t.Errorf("%s: a button or link named %q twice or not at all: %q", page, n, names)
		}
		seen[n] = true
	}
}

var changeFields = []string{"current_password", "new_password", "confirm_password"}

func TestInChromiumAFailedPasswordChangeKeepsWhatWasRightAndFocusesTheWrongField(t *testing.T) {
	base := gatehouseWith(t, func(c *config.Config) { c.MFA.RequiredFor = "none" })
	const current, next, short = "Forms!Passw0rd-1", "Lantern#Fjord-Quill-27", "Ab1!x"
	name := adUser(t, current)
	b := NewBrowser(t)

	// The sign-in on the way: an empty name, then a wrong password.
	b.Do(chromedp.Navigate(base+"/password/change"), chromedp.WaitVisible(chromedp.ID("login")))
	expectFocused(t, b, "login")
	submitForm(b, "login")
	expectRefusal(t, b, "login", "Enter your user name.", []string{"login"})
	b.ExpectProblem("422")
	if !Run(b, chromedp.Evaluate[bool](`document.getElementById('webauthn-start') !== null`)) {
		t.Errorf("the refused identify page no longer offers the passkey sign-in")
	}
	b.Do(chromedp.SendKeys(chromedp.ID("login"), name))
	submitForm(b, "login")
	expectFocused(t, b, "password")
	b.Do(chromedp.SendKeys(chromedp.ID("password"), "Wrong!Passw0rd-9"))
	submitForm(b, "password")
	expectRefusal(t, b, "password", "The user name or password is incorrect.", []string{"password"})
	b.ExpectProblem("401")
	b.Do(chromedp.SendKeys(chromedp.ID("password"), current))
	submitForm(b, "password")
	b.Do(chromedp.WaitVisible(chromedp.ID("current_password")))
	expectFocused(t, b, "current_password")

	t.Log("a wrong current password: only it is typed again")
	b.Do(chromedp.SendKeys(chromedp.ID("current_password"), "Wrong!Passw0rd-8"),
		chromedp.SendKeys(chromedp.ID("new_password"), next), chromedp.SendKeys(chromedp.ID("confirm_password"), next))
	submitForm(b, "current_password")
	expectRefusal(t, b, "current_password", "Your current password is not right.", changeFields, "new_password", "confirm_password")
	b.ExpectProblem("422")

	t.Log("a new password the policy refuses: it and its confirmation are typed again")
	b.Do(chromedp.SendKeys(chromedp.ID("current_password"), current), clearField("new_password"), chromedp.SendKeys(chromedp.ID("new_password"), short),
		clearField("confirm_password"), chromedp.SendKeys(chromedp.ID("confirm_password"), short))
	submitForm(b, "current_password")
	expectRefusal(t, b, "new_password", "Use at least 7 characters.", changeFields, "current_password")
	b.ExpectProblem("422")

	t.Log("a confirmation that does not match: only it is typed again")
	b.Do(chromedp.SendKeys(chromedp.ID("new_password"), next), chromedp.SendKeys(chromedp.ID("confirm_password"), next+"x"))
	submitForm(b, "current_password")
	expectRefusal(t, b, "confirm_password", "The two passwords are not the same.", changeFields, "current_password", "new_password")
	b.ExpectProblem("422")

	b.Do(chromedp.SendKeys(chromedp.ID("confirm_password"), next))
	submitForm(b, "confirm_password")
	if got := b.Text("p.notice"); !strings.Contains(got, "Your password was changed.") {
		t.Fatalf("the change with the kept fields: %q", got)
	}
	if err := adBind(t, name+"@"+testenv.ADDNSDomain, next); err != nil {
		t.Fatalf("the new password does not bind: %v", err)
	}
	b.CheckProblems()
}

func TestInChromiumAFailedChangeOfAPasswordThatMustChangeAtSignInKeepsWhatWasRight(t *testing.T) {
	base := gatehouseWith(t, func(c *config.Config) { c.MFA.RequiredFor = "none" })
	const current, next = "Forms!Passw0rd-2", "Meadow#Ledger-Otter-41"
	name := adUser(t, "Forms!Initial-Passw0rd")
	testenv.MustChangeADPassword(t, name, current)
	b := NewBrowser(t)
	signInWithPassword(b, base, name, current)
	b.Do(chromedp.WaitVisible(chromedp.ID("new_password")))
	expectFocused(t, b, "new_password")
	refuseNewPasswords(t, b, next)
	// The kept password's rules are shown checked at once.
	b.Do(chromedp.WaitVisible(chromedp.CSS(`li[data-rule="min_length"][data-state="met"]`)))

	b.Do(chromedp.SendKeys(chromedp.ID("confirm_password"), next))
	submitForm(b, "confirm_password")
	if got := b.Text("main"); !strings.Contains(got, "signed in as") {
		t.Fatalf("not signed in after the change: %q", got)
	}
	b.CheckProblems()
}

func TestInChromiumAResetAsksForOneMethodAtATimeAndEveryFailedStepFocusesTheWrongField(t *testing.T) {
	base := gatehouse(t)
	const oldPW, newPW = "Forms!Passw0rd-3", "Copper#Harbor-Violet-58"
	name := adUser(t, oldPW)
	b := NewBrowser(t)
	auth := b.AddVirtualAuthenticator(nil)
	enrolPasskeyAtFirstSignIn(t, b, base, name, oldPW, auth)

	t.Log("unlock and reset: an empty name")
	for _, path := range []string{"/account/unlock", "/password/reset"} {
		b.Do(chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.ID("login")))
		expectFocused(t, b, "login")
		submitForm(b, "login")
		expectRefusal(t, b, "login", "Enter your user name.", []string{"login"})
		b.ExpectProblem("422")
	}
	b.Do(chromedp.SendKeys(chromedp.ID("login"), name))
	submitForm(b, "login")

	t.Log("the verify step: a choice, then one method at a time")
	b.Do(chromedp.WaitVisible(chromedp.CSS(`main ul.methods`)))
	expectDistinctControls(t, b, "the choice of methods", "Passkey or security key", "Code from your authenticator app", "Recovery code")
	choice := Run(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('main ul.methods a')).map(a => a.href)`))
	if len(choice) < 3 {
		t.Fatalf("the choice offers %d methods: %q", len(choice), b.Text("main"))
	}
	for _, href := range choice {
		method := href[strings.LastIndex(href, "=")+1:]
		b.Do(chromedp.Navigate(href), chromedp.WaitVisible(chromedp.CSS(`main form`)))
		button := map[string]string{"webauthn": "Use a passkey", "totp": "Verify", "email": "Email me a code", "recovery": "Verify"}[method]
		expectDistinctControls(t, b, "the "+method+" page", button)
		want := map[string]string{"webauthn": "webauthn-start", "totp": "code_totp", "email": "email-send", "recovery": "code_recovery"}[method]
		expectFocused(t, b, want)
		if method == "totp" || method == "recovery" {
			numeric := b.Attr("#"+want, "inputmode") == "numeric"
			if numeric != (method == "totp") || b.Attr("#"+want, "autocomplete") != "one-time-code" {
				t.Errorf("the %s field: inputmode %q, autocomplete %q", method, b.Attr("#"+want, "inputmode"), b.Attr("#"+want, "autocomplete"))
			}
		}
	}

	t.Log("a wrong authenticator code comes back empty, focused and described by its error")
	b.Do(chromedp.Navigate(choice[0][:strings.LastIndex(choice[0], "=")+1]+"totp"), chromedp.WaitVisible(chromedp.ID("code_totp")),
		chromedp.SendKeys(chromedp.ID("code_totp"), "000000"))
	submitForm(b, "code_totp")
	expectRefusal(t, b, "code_totp", "That code didn't work.", []string{"code_totp"})
	b.ExpectProblem("401")

	t.Log("the passkey, then the new password")
	b.Do(chromedp.Navigate(choice[0][:strings.LastIndex(choice[0], "=")+1]+"webauthn"), chromedp.WaitVisible(chromedp.ID("webauthn-start")),
		chromedp.Click(chromedp.ID("webauthn-start")), chromedp.WaitVisible(chromedp.ID("new_password")))
	expectFocused(t, b, "new_password")
	refuseNewPasswords(t, b, newPW)
	b.Do(chromedp.SendKeys(chromedp.ID("confirm_password"), newPW))
	submitForm(b, "confirm_password")
	if got := b.Text("p.notice"); !strings.Contains(got, "Your password was reset.") {
		t.Fatalf("reset: %q", got)
	}

	t.Log("the sign-in's code page: a wrong recovery code")
	b.SetUserVerified(auth, false) // the passkey the page asks for at once fails quietly
	signInWithPassword(b, base, name, newPW)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`a[href*="method=recovery"]`)), chromedp.Click(chromedp.CSS(`a[href*="method=recovery"]`)),
		chromedp.WaitVisible(chromedp.ID("code")))
	expectFocused(t, b, "code")
	b.Do(chromedp.SendKeys(chromedp.ID("code"), "aaaaa-bbbbb"))
	submitForm(b, "code")
	expectRefusal(t, b, "code", "That code didn't work.", []string{"code"})
	b.ExpectProblem("401")
	b.CheckProblems()
}
