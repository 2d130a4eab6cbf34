package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/notify/smtptest"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/saml"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden page texts (testdata/pages) and the README's screenshot (docs/sign-in.png)")

// tourLooks are the ways every state is shown, each one step from the
// last, so the tour switches one thing at a time.
var tourLooks = []Look{{Width: 1280}, {Dark: true, Width: 1280}, {Dark: true, Width: 390}, {Width: 390}}

// tourLanguages are the languages the tour runs in, each a whole tour.
var tourLanguages = []string{"en", "de"}

// tourState is one page in one state that a user sees. to brings the
// browser there from the state before it (and may assert what only this
// state has); the tour then judges the page (see tour.judge).
type tourState struct {
	name string
	to   func(tr *tour)
}

// TestEveryPageInEveryStateIsAccessibleFitsAPhoneAndReadsAsItsGoldenText
// walks through every page and state a user sees, in English and German,
// and judges each in light and dark at 1280 and 390 px: axe-core finds no
// WCAG 2.2 AA violation, at 390 px nothing is wider than the card or
// sticks out of it, and the visible text is the golden file's
// (testdata/pages/STATE.LANG.txt; -update rewrites them and the README's
// screenshot of the sign-in page).
func TestEveryPageInEveryStateIsAccessibleFitsAPhoneAndReadsAsItsGoldenText(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	sps := newTourSPs(t)
	a, base := gatehouseApp(t, func(c *config.Config) {
		c.SMTP = config.SMTP{Host: mail.Host, Port: mail.Port, From: "sso@corp.example.test", Security: "none"}
		c.MFA.Methods = []string{"webauthn", "totp", "email", "recovery"}
		c.Sessions.RememberDevice = 30 * 24 * time.Hour
		c.Apps = sps.apps()
	})
	sps.at(base)
	started := time.Now()
	// The languages walk at once, each in its own browser: most of a
	// step is waiting for the server, the DC and Chromium.
	t.Run("languages", func(t *testing.T) {
		for _, lang := range tourLanguages {
			t.Run(lang, func(t *testing.T) {
				t.Parallel()
				tr := newTour(t, a, base, lang, mail)
				tr.sps = sps
				for _, st := range tourStates() {
					st.to(tr)
					tr.judge(st.name)
				}
			})
		}
	})
	var names []string
	for _, st := range tourStates() {
		names = append(names, st.name)
	}
	t.Logf("the tour judged %d states in %d languages and %d looks in %v: %s", len(names), len(tourLanguages), len(tourLooks),
		time.Since(started).Round(time.Second), strings.Join(names, ", "))
}

// tourStates is the tour, in order. Each state starts where the one
// before it left the browser; add a state where its page is reached.
func tourStates() []tourState {
	return []tourState{
		{"home-signed-out", func(tr *tour) { tr.open("/") }},
		{"signin-identify", func(tr *tour) { tr.open("/login") }},
		{"signin-identify-empty", func(tr *tour) { tr.next(chromedp.Submit(chromedp.ID("login"))) }},
		{"signin-flow-expired", func(tr *tour) { tr.open("/login?flow=0123456789abcdef0123456789abcdef") }},
		{"signin-password", func(tr *tour) { tr.submit("login", tr.main.name) }},
		{"signin-password-wrong", func(tr *tour) {
			tr.submit("password", "Wrong!Passw0rd-1")
			tr.announced("password")
		}},
		{"enrol-choose", func(tr *tour) { tr.submit("password", tr.main.password) }},
		{"enrol-passkey", func(tr *tour) { tr.click(choosePasskey) }},
		{"enrol-totp", func(tr *tour) {
			tr.click(`a[href$="choose=1"]`)
			tr.click(chooseTOTP)
			tr.main.secret = strings.ReplaceAll(tr.b.Text("p.secret"), " ", "")
			tr.mask(tr.b.Text("p.secret"), "{secret}")
		}},
		{"enrol-totp-wrong", func(tr *tour) {
			tr.submit("code", "000000")
			tr.announced("code")
		}},
		{"enrol-recovery-codes", func(tr *tour) {
			tr.submit("code", tr.main.totp())
			tr.main.recovery = strings.Fields(tr.b.Text("ol.codes"))
		}},
		{"home-signed-in", func(tr *tour) { tr.click(`form button[type=submit]`) }},
		{"account", func(tr *tour) { tr.open("/account") }},
		{"account-add-passkey", func(tr *tour) {
			tr.click(`form[action="/account/factors/add"] button[value="webauthn"]`)
		}},
		{"account-recovery-confirm", func(tr *tour) {
			tr.open("/account")
			tr.click(`a[href="/account/recovery"]`)
		}},
		{"account-new-recovery-codes", func(tr *tour) {
			tr.click(`form[action="/account/recovery"] button`)
			tr.main.recovery = strings.Fields(tr.b.Text("ol.codes"))
		}},
		{"password-change", func(tr *tour) { tr.open("/password/change") }},
		{"password-change-current-missing", func(tr *tour) {
			tr.submit("current_password", "")
			tr.announced("current_password")
		}},
		{"password-change-new-missing", func(tr *tour) {
			tr.fill("current_password", tr.main.password)
			tr.submit("new_password", "")
			tr.announced("new_password")
		}},
		{"password-change-mismatch", func(tr *tour) {
			tr.fill("current_password", tr.main.password)
			tr.fill("new_password", "Harbor#Quilt-Nebula-83")
			tr.submit("confirm_password", "Harbor#Quilt-Nebula-38")
			tr.announced("confirm_password")
		}},
		{"password-change-too-short", func(tr *tour) {
			tr.fill("current_password", tr.main.password)
			tr.fill("new_password", "Ab1!x")
			tr.submit("confirm_password", "Ab1!x")
			tr.announced("new_password")
		}},
		{"password-change-wrong-current", func(tr *tour) {
			tr.fill("current_password", "Wrong!Passw0rd-2")
			tr.fill("new_password", "Harbor#Quilt-Nebula-83")
			tr.submit("confirm_password", "Harbor#Quilt-Nebula-83")
			tr.announced("current_password")
		}},
		{"password-change-done", func(tr *tour) {
			const next = "Harbor#Quilt-Nebula-83"
			tr.fill("current_password", tr.main.password)
			tr.fill("new_password", next)
			tr.submit("confirm_password", next)
			tr.main.password = next
		}},
		{"logout-confirm", func(tr *tour) { tr.open("/logout") }},
		{"logout-done", func(tr *tour) { tr.click(`form[action="/logout"] button`) }},
		{"mfa-totp", func(tr *tour) { tr.signIn(tr.main) }},
		{"mfa-totp-wrong", func(tr *tour) {
			tr.submit("code", "000000")
			tr.announced("code")
		}},
		{"mfa-recovery", func(tr *tour) { tr.click(`ul.methods a[href$="method=recovery"]`) }},
		{"mfa-recovery-wrong", func(tr *tour) {
			tr.submit("code", "aaaaa-aaaaa")
			tr.announced("code")
		}},
		{"account-forgot-devices", func(tr *tour) {
			tr.b.Do(chromedp.Click(chromedp.CSS(`input[name="remember"]`)))
			tr.submit("code", tr.main.useRecoveryCode())
			tr.open("/account")
			tr.click(`form[action="/account/devices/forget"] button`)
		}},
		{"saml-unknown-app", func(tr *tour) {
			tr.samlRequest(authnRequest{Issuer: "https://unknown.example.test/saml", ACS: "https://unknown.example.test/saml/acs"})
		}},
		{"saml-acs-not-allowed", func(tr *tour) {
			tr.samlRequest(authnRequest{Issuer: tr.sps.wiki.entityID, ACS: "https://elsewhere.example.test/saml/acs"})
		}},
		{"saml-stale-request", func(tr *tour) {
			tr.samlRequest(authnRequest{Issuer: tr.sps.wiki.entityID, ACS: tr.sps.wiki.acsURL(), IssueInstant: time.Now().Add(-time.Hour)})
		}},
		{"saml-idp-initiated-refused", func(tr *tour) {
			tr.open(saml.PathSSO + "?sp=" + url.QueryEscape(tr.sps.payroll.entityID))
		}},
		{"logout-fanout", func(tr *tour) {
			// The wiki's tile signs the user in there (IdP-initiated), so
			// signing out tells the wiki in a frame of the sign-out page.
			tr.open("/account")
			tr.b.Do(chromedp.Click(chromedp.CSS(`a.tile[href$="`+url.QueryEscape(tr.sps.wiki.entityID)+`"]`)), chromedp.WaitVisible(chromedp.ID("acs")))
			tr.open("/logout")
			tr.click(`form[action="/logout"] button`)
			done, _ := json.Marshal(tr.a.Renderer.Catalog().T(tr.lang, "logout.fanout_done"))
			Run(tr.b, chromedp.Poll[bool](`document.getElementById("logout-status").textContent === `+string(done), chromedp.WithPollingTimeout(DefaultTimeout)))
		}},
		{"reset-identify", func(tr *tour) { tr.open("/password/reset") }},
		{"reset-identify-empty", func(tr *tour) {
			tr.submit("login", "")
			tr.announced("login")
		}},
		{"reset-verify", func(tr *tour) { tr.submit("login", tr.main.name) }},
		{"reset-verify-totp", func(tr *tour) { tr.click(`ul.methods a[href$="method=totp"]`) }},
		{"reset-verify-wrong", func(tr *tour) {
			tr.submit("code_totp", "000000")
			tr.announced("code_totp")
		}},
		{"reset-new-password", func(tr *tour) { tr.submit("code_totp", tr.main.totp()) }},
		{"reset-new-password-mismatch", func(tr *tour) {
			tr.fill("new_password", "Copper!Kettle-Wand3rs")
			tr.submit("confirm_password", "Copper!Kettle-Wand3rz")
			tr.announced("confirm_password")
		}},
		{"reset-done", func(tr *tour) {
			tr.main.password = "Copper!Kettle-Wand3rs"
			tr.fill("new_password", tr.main.password)
			tr.submit("confirm_password", tr.main.password)
		}},
		{"unlock-identify", func(tr *tour) {
			upn := tr.locked.name + "@" + testenv.ADDNSDomain
			for range 2 {
				_ = adBind(tr.t, upn, "Wrong!Passw0rd-9")
			}
			if err := adBind(tr.t, upn, tr.locked.password); err == nil || !strings.Contains(err.Error(), "775") {
				tr.t.Fatalf("the account is not locked out (data 775): %v", err)
			}
			tr.open("/account/unlock")
		}},
		{"unlock-verify", func(tr *tour) { tr.submit("login", tr.locked.name) }},
		{"unlock-verify-totp", func(tr *tour) { tr.click(`ul.methods a[href$="method=totp"]`) }},
		{"unlock-verify-wrong", func(tr *tour) {
			tr.submit("code_totp", "000000")
			tr.announced("code_totp")
		}},
		{"unlock-done", func(tr *tour) { tr.submit("code_totp", tr.locked.totp()) }},
		{"reset-email-sent", func(tr *tour) {
			tr.open("/password/reset")
			tr.submit("login", tr.mailed.name)
			tr.click(`ul.methods a[href$="method=email"]`)
			tr.click(`form:has(input[name="send"]) button`)
		}},
		{"reset-email-wrong", func(tr *tour) {
			tr.submit("code_email", "000000")
			tr.announced("code_email")
		}},
		{"change-expired", func(tr *tour) {
			tr.signIn(tr.expired)
			tr.submit("code", tr.expired.totp())
		}},
		{"change-expired-too-short", func(tr *tour) {
			tr.fill("new_password", "Sh0rt!pw-")
			tr.submit("confirm_password", "Sh0rt!pw-")
			tr.announced("new_password")
		}},
		{"change-must-change", func(tr *tour) {
			tr.fill("new_password", "Harbor#Quilt-Nebula-83")
			tr.submit("confirm_password", "Harbor#Quilt-Nebula-83")
			tr.signIn(tr.mustChange)
			tr.submit("code", tr.mustChange.totp())
		}},
		{"mfa-passkey", func(tr *tour) {
			// The passkey is not discoverable, so the sign-in page's autofill
			// does not sign in with it. Enrolled at the first sign-in.
			tr.auth = tr.b.AddVirtualAuthenticator(&cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true})
			tr.signIn(tr.mailed)
			tr.click(choosePasskey)
			tr.next(chromedp.Click(chromedp.ID("webauthn-start")))
			tr.click(`form button[type=submit]`) // past the recovery codes
			tr.click(`form[action="/logout"] button`)
			// The MFA page starts the ceremony as it loads; without presence
			// it waits, and the page can be judged.
			tr.presence(false)
			tr.signIn(tr.mailed)
		}},
		{"mfa-passkey-wrong", func(tr *tour) {
			tr.presence(true)
			tr.bogusSignature(true)
			tr.next(chromedp.Reload())
			tr.b.Do(chromedp.WaitVisible(chromedp.CSS(`#webauthn-form .field-error:not(#webauthn-error)`)))
			tr.bogusSignature(false)
		}},
		{"account-remove-confirm", func(tr *tour) {
			tr.next(chromedp.Click(chromedp.ID("webauthn-start")))
			tr.open("/account")
			tr.click(`a[href^="/account/factors/remove"]`)
		}},
		{"account-removed", func(tr *tour) {
			tr.click(`form[action="/account/factors/remove"] button`)
		}},
		{"mfa-throttled", func(tr *tour) {
			tr.signIn(tr.main)
			tr.refuseUntil("mfa.throttled", func(i int) { tr.submit("code", fmt.Sprintf("%06d", 111111*(i+1))) })
		}},
		{"signin-throttled", func(tr *tour) {
			tr.open("/login")
			tr.submit("login", tr.main.name)
			tr.refuseUntil("login.throttled", func(i int) { tr.submit("password", fmt.Sprintf("Wrong!Passw0rd-%d", i+10)) })
		}},
		{"error-403-stale-form", func(tr *tour) {
			tr.open("/login")
			tr.b.Do(chromedp.SetValue(chromedp.CSS(`input[name="csrf_token"]`), "stale"))
			tr.submit("login", tr.main.name)
		}},
		{"error-404", func(tr *tour) { tr.open("/no-such-page") }},
	}
}

// tourUser is an AD user the tour signs in as.
type tourUser struct {
	name, password string
	secret         string   // the authenticator app's key, once enrolled
	recovery       []string // unused recovery codes
	step           int64    // the last TOTP time step used
}

// totp returns a code for a time step not used before (the server
// refuses a replayed one), waiting when the next one is not valid yet.
func (u *tourUser) totp() string {
	step := max(time.Now().Unix()/30, u.step+1)
	if wait := time.Until(time.Unix((step-1)*30, 0)); wait > 0 {
		time.Sleep(wait) // the server accepts one step either side
	}
	u.step = step
	code, err := totp.GenerateCode(u.secret, time.Unix(step*30, 0))
	if err != nil {
		panic(err)
	}
	return code
}

// useRecoveryCode returns one of u's unused recovery codes.
func (u *tourUser) useRecoveryCode() string {
	c := u.recovery[0]
	u.recovery = u.recovery[1:]
	return c
}

// tour is one walk through the pages in one language.
type tour struct {
	t    *testing.T
	b    *Browser
	a    *app.App
	base string
	lang string
	mail *smtptest.Server

	main       *tourUser // signs up at the first sign-in; no mail address
	mailed     *tourUser // has a mail address (email codes), sets up a passkey at the first sign-in
	expired    *tourUser // password expired; an authenticator app
	mustChange *tourUser // must change the password; an authenticator app
	locked     *tourUser // locked out after two wrong passwords; an authenticator app
	auth       cdpwebauthn.AuthenticatorID

	sps    *tourSPs
	masks  map[string]string // text that differs between runs → its placeholder
	judged []string
}

func newTour(t *testing.T, a *app.App, base, lang string, mail *smtptest.Server) *tour {
	tr := &tour{t: t, a: a, base: base, lang: lang, mail: mail, masks: map[string]string{}}
	tr.main = tr.user("tour", "main", false)
	tr.mailed = tr.user("tour", "mailed", true)
	tr.expired = tr.user("tour", "expired", false)
	tr.mustChange = tr.user("tour", "must-change", false)
	tr.locked = tr.user("tour", "locked", false)
	testenv.ApplyADPSO(t, testenv.ADPSO{MaxAgeDays: 2, MinLength: 10, History: 24, LockoutThreshold: 2, LockoutMinutes: 30},
		tr.expired.name, tr.locked.name)
	testenv.SetADPasswordInThePast(t, tr.expired.name, tr.expired.password, 3)
	testenv.MustChangeADPassword(t, tr.mustChange.name, tr.mustChange.password)
	for _, u := range []*tourUser{tr.expired, tr.mustChange, tr.locked} {
		tr.enrolTOTP(u)
	}
	tr.b = NewBrowser(t)
	tr.b.SetAcceptLanguage(lang)
	return tr
}

// user creates an AD user whose name the golden texts show as {role};
// without mail, the user has no second factor until they set one up.
func (tr *tour) user(prefix, role string, withMail bool) *tourUser {
	tr.t.Helper()
	u := &tourUser{password: "Tour!Passw0rd-" + role}
	u.name = testenv.NewADUser(tr.t, prefix, u.password, "Tess", "Tour")
	if !withMail {
		testenv.SetADAttribute(tr.t, u.name, "mail")
	}
	tr.mask(u.name, "{"+role+"}")
	return u
}

// enrolTOTP gives u an authenticator app behind the pages' back.
func (tr *tour) enrolTOTP(u *tourUser) {
	tr.t.Helper()
	ctx := tr.t.Context()
	du, err := tr.a.Directory.LookupUser(ctx, u.name)
	if err != nil {
		tr.t.Fatal(err)
	}
	en, err := tr.a.Factors.TOTP.Enrol(ctx, du.ID, du.UPN)
	if err != nil {
		tr.t.Fatal(err)
	}
	u.secret = strings.ReplaceAll(en.Secret, " ", "")
	if _, err := tr.a.Factors.TOTP.Confirm(ctx, du.ID, en.Pending, u.totp(), ""); err != nil {
		tr.t.Fatal(err)
	}
}

// tourSPs are the SAML service providers of the tour's Gatehouse: two
// with a tile on /account, and one that refuses IdP-initiated sign-in.
type tourSPs struct{ wiki, travel, payroll *samlSP }

func newTourSPs(t *testing.T) *tourSPs {
	return &tourSPs{
		wiki:    newSAMLSP(t, "Team Wiki", "https://wiki.corp.example.test/saml", false),
		travel:  newSAMLSP(t, "Travel and Expenses", "https://travel.corp.example.test/saml", false),
		payroll: newSAMLSP(t, "Payroll", "https://payroll.corp.example.test/saml", false),
	}
}

func (s *tourSPs) apps() []config.App {
	payroll := s.payroll.app()
	payroll.IDPInitiated = new(false)
	return []config.App{s.wiki.app(), s.travel.app(), payroll}
}

// at tells the SPs where Gatehouse runs.
func (s *tourSPs) at(base string) {
	for _, sp := range []*samlSP{s.wiki, s.travel, s.payroll} {
		sp.idp = base
	}
}

// samlRequest sends the browser to /saml/sso with r, an unsigned
// AuthnRequest over HTTP-Redirect, completed with a fresh ID and
// Gatehouse's SSO address.
func (tr *tour) samlRequest(r authnRequest) {
	tr.t.Helper()
	r.ID, r.Destination = assertion.RandomID(), tr.base+saml.PathSSO
	tr.b.Do(chromedp.Navigate(redirectURL(tr.t, r.Destination, r.element(), "")))
}

// presence decides whether the virtual authenticator confirms the user's
// presence by itself (else a ceremony waits).
func (tr *tour) presence(on bool) {
	tr.t.Helper()
	if _, err := chromedp.Call(tr.b.Context(), cdpwebauthn.SetAutomaticPresenceSimulation,
		cdpwebauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: tr.auth, Enabled: on}); err != nil {
		tr.t.Fatalf("WebAuthn.setAutomaticPresenceSimulation: %v", err)
	}
}

// bogusSignature makes the virtual authenticator sign wrongly (or not).
func (tr *tour) bogusSignature(on bool) {
	tr.t.Helper()
	if _, err := chromedp.Call(tr.b.Context(), cdpwebauthn.SetResponseOverrideBits, cdpwebauthn.SetResponseOverrideBitsParams{
		AuthenticatorID: tr.auth, IsBogusSignature: new(on)}); err != nil {
		tr.t.Fatalf("WebAuthn.setResponseOverrideBits: %v", err)
	}
}

// refuseUntil sends wrong answers (try(i) for the i-th) until the page
// shows the message key, at most ten times.
func (tr *tour) refuseUntil(key string, try func(i int)) {
	tr.t.Helper()
	want := tr.a.Renderer.Catalog().T(tr.lang, key)
	for i := range 10 {
		try(i)
		if strings.Contains(tr.b.VisibleText(), want) {
			return
		}
		tr.forgetStatus()
	}
	tr.t.Fatalf("ten wrong answers and no %q", want)
}

// mask makes the golden texts show placeholder where the page shows s.
func (tr *tour) mask(s, placeholder string) { tr.masks[s] = placeholder }

// open loads path and waits for the page.
func (tr *tour) open(path string) {
	tr.t.Helper()
	tr.b.Do(chromedp.Navigate(tr.base + path))
}

// fill types value into the empty field id.
func (tr *tour) fill(id, value string) {
	tr.t.Helper()
	tr.b.Do(clearField(id), chromedp.SendKeys(chromedp.ID(id), value))
}

// submit fills the field id and submits its form; it waits for the next
// page.
func (tr *tour) submit(id, value string) {
	tr.t.Helper()
	tr.fill(id, value)
	tr.next(chromedp.Submit(chromedp.ID(id)))
}

// click clicks the first element matching css and waits for the next page.
func (tr *tour) click(css string) {
	tr.t.Helper()
	tr.next(chromedp.Click(chromedp.CSS(css)))
}

// next runs actions that leave the page and waits until the next page has
// loaded: the current document is marked, and the wait ends at a complete
// document without the mark.
func (tr *tour) next(actions ...chromedp.Action[chromedp.Void]) {
	tr.t.Helper()
	tr.b.Do(chromedp.Evaluate[chromedp.Void](`window.__tourLeaving = true`))
	tr.b.Do(actions...)
	tr.b.Do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			done, err := chromedp.Evaluate[bool](`window.__tourLeaving !== true && document.readyState === "complete"`)(ctx, t)
			if err == nil && done {
				return nil
			}
			select {
			case <-ctx.Done():
				return errors.New("the next page did not load")
			case <-time.After(25 * time.Millisecond):
			}
		}
	}))
}

// signIn signs u in with the password, up to the second factor, in a
// browser that forgot whoever was signed in.
func (tr *tour) signIn(u *tourUser) {
	tr.t.Helper()
	tr.b.Do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.ClearBrowserCookies, cdp.Empty{})
		return err
	}))
	tr.open("/login")
	tr.submit("login", u.name)
	tr.submit("password", u.password)
}

// announced asserts that a refused form tells a screen reader what is
// wrong: the field id has the focus, is marked invalid, and is described
// by a visible message.
func (tr *tour) announced(id string) {
	tr.t.Helper()
	type focus struct {
		Active, Invalid, Message string
	}
	// Chromium focuses an autofocus field when it next renders, which may
	// be after the load event.
	_, _ = chromedp.Run(tr.b.Context(), chromedp.Poll[bool](`document.activeElement !== document.body`,
		chromedp.WithPollingTimeout(5*time.Second)))
	got := Run(tr.b, chromedp.Evaluate[focus](`(() => {
  const el = document.activeElement;
  const ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  const msg = ids.map(id => document.getElementById(id)).filter(m => m && m.innerText.trim() &&
    (m.classList.contains("field-error") || m.classList.contains("error"))).map(m => m.innerText.trim()).join(" ");
  return {active: el.id || el.tagName, invalid: el.getAttribute("aria-invalid") || "", message: msg};
})()`))
	if got.Active != id || got.Invalid != "true" || got.Message == "" {
		tr.t.Errorf("after the refused form the focus is on %q (aria-invalid %q) described by the error %q; want %q, invalid, with its error",
			got.Active, got.Invalid, got.Message, id)
	}
}

// judge checks the page the browser shows as state name in every look.
func (tr *tour) judge(name string) {
	tr.t.Helper()
	tr.judged = append(tr.judged, name)
	tr.forgetStatus()
	for i, l := range tourLooks {
		tr.b.SetLook(l)
		if i == 0 {
			tr.golden(name) // the text as a desktop browser lays it out
			if *update && name == "signin-identify" && tr.lang == "en" {
				tr.screenshot()
			}
		}
		if vs := tr.b.Axe(); len(vs) > 0 {
			var s []string
			for _, v := range vs {
				s = append(s, v.String())
			}
			tr.t.Errorf("%s (%s, %s): axe-core found %d violation(s):\n  %s", name, tr.lang, l, len(vs), strings.Join(s, "\n  "))
		}
		if out := tr.b.HeadingsOutOfScale(); len(out) > 0 {
			tr.t.Errorf("%s (%s, %s): headings out of scale:\n  %s", name, tr.lang, l, strings.Join(out, "\n  "))
		}
		if l.Width <= 480 {
			if out := tr.b.Overflow(); len(out) > 0 {
				tr.t.Errorf("%s (%s, %s): does not fit the card:\n  %s", name, tr.lang, l, strings.Join(out, "\n  "))
			}
		}
	}
	tr.b.CheckProblems()
}

// forgetStatus drops the browser's report of the page's own error status
// (a refused form is answered 401, 403, 422 or 429, as it should be); the
// golden text says what the page shows.
func (tr *tour) forgetStatus() {
	url := Run(tr.b, chromedp.Evaluate[string](`location.href`))
	tr.b.mu.Lock()
	defer tr.b.mu.Unlock()
	tr.b.problems = slices.DeleteFunc(tr.b.problems, func(p string) bool {
		return strings.Contains(p, "the server responded with a status of 4") && strings.HasSuffix(p, "["+url+"]")
	})
}

// The text that differs between runs besides the masked values.
var (
	codeRE = regexp.MustCompile(`\b[0-9a-z]{5}-[0-9a-z]{5}\b`)
	idRE   = regexp.MustCompile(`\b[0-9a-f]{24}\b`) // a request id to quote
	// A time as /account and the mails show it: "Today, 20:48",
	// "Gestern, 09:05", "6 Dec 2026, 19:25", "6. Dez. 2026, 19:25".
	timeRE = regexp.MustCompile(`(?:\b(?:Today|Yesterday|Heute|Gestern)|\b\d{1,2}\.?[ \x{a0}\x{202f}]\p{L}{3,4}\.?[ \x{a0}\x{202f}]\d{4}),[ \x{a0}\x{202f}]\d{2}:\d{2}\b`)
)

// golden compares the page's visible text with testdata/pages/NAME.LANG.txt.
func (tr *tour) golden(name string) {
	tr.t.Helper()
	text := tr.b.VisibleText()
	keys := make([]string, 0, len(tr.masks))
	for k := range tr.masks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) }) // a name before its prefix
	for _, k := range keys {
		text = strings.ReplaceAll(text, k, tr.masks[k])
	}
	text = codeRE.ReplaceAllString(text, "{code}")
	text = timeRE.ReplaceAllString(text, "{time}")
	text = idRE.ReplaceAllString(text, "{request-id}")

	path := filepath.Join("testdata", "pages", name+"."+tr.lang+".txt")
	want, err := os.ReadFile(path) // #nosec G304 -- a golden file of this test.
	switch {
	case *update || (errors.Is(err, os.ErrNotExist) && !testenv.InCI()):
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			tr.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			tr.t.Fatal(err)
		}
		if !*update {
			tr.t.Logf("%s: new golden file %s", name, path)
		}
	case err != nil:
		tr.t.Errorf("%s: %v (go test -run %s -update writes it)", name, err, tr.t.Name())
	case string(want) != text:
		tr.t.Errorf("%s (%s): the page reads\n%s\nwant (%s)\n%s", name, tr.lang, text, path, want)
	}
}

// screenshot saves the page, down to a little below its footer, as the
// README's picture of the sign-in page.
func (tr *tour) screenshot() {
	tr.t.Helper()
	height := Run(tr.b, chromedp.Evaluate[float64](`document.querySelector("footer").getBoundingClientRect().bottom + 32`))
	png := Run(tr.b, chromedp.Action[[]byte](func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Clip: &page.Viewport{Width: 1280, Height: height, Scale: 1}})
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	}))
	path := filepath.Join("..", "..", "docs", "sign-in.png")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o600); err != nil {
		tr.t.Fatal(err)
	}
}
