package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// settableClock is Gatehouse's clock in a test that needs time to pass.
type settableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settableClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *settableClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// gatehouseAt is gatehouseWith on a clock of the test's, and the app, for
// what a test sets up directly (events from elsewhere).
func gatehouseAt(t *testing.T, now func() time.Time, mod func(*config.Config)) (string, *app.App) {
	t.Helper()
	s := serve(t, true, now, mod)
	return s.base, s.app
}

// toAccount opens /account, signing in with the passkey from the
// identify page's autofill when the browser has no session.
func toAccount(b *Browser, base string) {
	b.Do(chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(`main .account`)))
}

// addAuthenticatorApp adds an authenticator app on /account (the step-up,
// if one is asked, answered by the passkey) and returns its secret.
func addAuthenticatorApp(t *testing.T, b *Browser, base string, now time.Time) string {
	t.Helper()
	b.Do(chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(`button[name="method"][value="totp"]`)),
		chromedp.Click(chromedp.CSS(`button[name="method"][value="totp"]`)), chromedp.WaitVisible(chromedp.CSS(`p.secret`)))
	if h1 := b.Text("h1"); h1 != "Add a sign-in method" {
		t.Errorf("the enrolment from /account is headed %q", h1)
	}
	secret := strings.ReplaceAll(b.Text("p.secret"), " ", "")
	code, _ := totp.GenerateCode(secret, now)
	b.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	if got := b.Text("p.notice"); !strings.Contains(got, "Added: Authenticator app.") {
		t.Errorf("after adding: %q", got)
	}
	return secret
}

func TestInChromiumAnADUserWithAPasskeyAddsAnAuthenticatorAppOnTheAccountPage(t *testing.T) {
	c := &settableClock{t: time.Now()}
	base, _ := gatehouseAt(t, c.now, nil)
	const pw = "E2e!Passw0rd-add"
	name := adUser(t, pw)
	b := NewBrowser(t)
	auth := b.AddVirtualAuthenticator(nil)
	if _, err := chromedp.Call(b.Context(), emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"}); err != nil {
		t.Fatal(err)
	}
	enrolPasskeyAtFirstSignIn(t, b, base, name, pw, auth)
	toAccount(b, base)
	page := b.Text("main")
	for _, want := range []string{"Passkey", "Passkey added", "Signed in", "Times are in the Asia/Tokyo time zone."} {
		if !strings.Contains(page, want) {
			t.Errorf("the account page lacks %q: %q", want, page)
		}
	}
	for _, raw := range []string{"signin.success", "factor.enrolled", "webauthn"} {
		if strings.Contains(page, raw) {
			t.Errorf("the account page shows the code %q", raw)
		}
	}

	t.Log("ten minutes on, adding a method asks for the passkey first (answered at once by the authenticator)")
	c.add(10 * time.Minute)
	secret := addAuthenticatorApp(t, b, base, c.now())
	if vc := b.VirtualCredentials(auth); len(vc) != 1 || vc[0].SignCount < 1 {
		t.Errorf("the passkey was not asked for before the enrolment (credentials %d)", len(vc))
	}
	if got := Run(b, chromedp.Evaluate[int](`document.querySelectorAll('main .items .item').length`)); got != 2 {
		t.Errorf("%d methods listed, want the passkey and the app", got)
	}
	b.CheckProblems()

	t.Log("on another browser, without the passkey, the app signs in")
	b2 := NewBrowser(t)
	signInWithPassword(b2, base, name, pw)
	// The page asks this browser for the passkey, which it does not hold;
	// the user takes the other method the page offers.
	other := b2.Attr(`ul.methods a[href*="method=totp"]`, "href")
	b2.Do(chromedp.Navigate(base+other), chromedp.WaitVisible(chromedp.ID("code")))
	c.add(time.Minute)
	code, _ := totp.GenerateCode(secret, c.now())
	b2.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS(`a.button[href="/account"]`)))
}

// overflowing lists what in main.card is wider than the card or sticks
// out of it, whether the page scrolls sideways, and every <time> that
// wraps onto a second line.
const overflowing = `(() => {
  const card = document.querySelector('main.card').getBoundingClientRect();
  const out = [];
  const name = el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).replace(/ /g, '.') : '') +
    ' "' + (el.textContent || '').trim().slice(0, 50) + '"';
  for (const el of document.querySelectorAll('main.card *')) {
    if (el.closest('.sr')) continue; // visually hidden text
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < card.left - 0.5 || r.right > card.right + 0.5) {
      out.push(name(el) + ' spans ' + Math.round(r.left) + '–' + Math.round(r.right) + ', the card ' + Math.round(card.left) + '–' + Math.round(card.right));
    }
  }
  for (const el of document.querySelectorAll('main.card time')) {
    if (el.getClientRects().length > 1) out.push(name(el) + ' breaks across lines');
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth) out.push('the page scrolls sideways: ' + doc.scrollWidth + ' > ' + doc.clientWidth);
  if (card.right > doc.clientWidth + 0.5) out.push('the card is wider than the screen');
  return out;
})()`

func TestInChromiumTheGermanAccountPageWithEverythingOnItFitsAPhone(t *testing.T) {
	c := &settableClock{t: time.Now()}
	base, a := gatehouseAt(t, c.now, func(cfg *config.Config) { cfg.Sessions.RememberDevice = 720 * time.Hour })
	const pw = "E2e!Passw0rd-fit"
	name := adUser(t, pw)
	b := NewBrowser(t)
	enrolPasskeyAtFirstSignIn(t, b, base, name, pw, b.AddVirtualAuthenticator(nil))
	toAccount(b, base)
	secret := addAuthenticatorApp(t, b, base, c.now())

	// Two more browsers remembered, signed in over plain HTTP with their
	// own user agents.
	for _, ua := range []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	} {
		hb := browse.New(t, base)
		hb.C.Transport = userAgent{ua}
		hb.Get("/login?login_hint=" + name)
		hb.Submit(map[string]string{"password": pw})
		hb.Get(strings.TrimPrefix(hb.URL, base) + "&method=totp")
		c.add(time.Minute)
		code, _ := totp.GenerateCode(secret, c.now())
		if page := hb.Submit(map[string]string{"code": code, "remember": "1"}); !strings.Contains(page, `href="/account"`) {
			t.Fatalf("the other browser did not sign in:\n%s", page)
		}
	}
	// Activity from elsewhere: an application with a long name, from a
	// long IPv6 address.
	u, err := a.Directory.LookupUser(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	ctx := observe.WithClientIP(t.Context(), "2001:db8:85a3:1234:5678:8a2e:370:7334")
	for _, e := range []audit.Event{
		{Type: audit.TokenIssued, App: "Kundenbeziehungsmanagementproduktivsystem-Rechenzentrum-Frankfurt", Result: "ok"},
		{Type: audit.SignInFailure, App: "Kundenbeziehungsmanagementproduktivsystem-Rechenzentrum-Frankfurt", Result: "invalid_credentials"},
		{Type: audit.SignInMFAFailure, Result: "wrong", Detail: map[string]string{"method": "totp"}},
		{Type: audit.AccountUnlocked, Result: "started"},
	} {
		e.UserID, e.Login = u.ID, u.UPN
		a.Audit.Record(ctx, e)
	}

	b.Do(chromedp.Navigate(base+"/lang?lang=de&back=/account"), chromedp.WaitVisible(chromedp.CSS(`.account .events`)))
	page := b.Text("main")
	for _, want := range []string{"Anmeldemethoden", "Entfernen", "Authenticator-App", "Passkey", "Gemerkte Browser", "Firefox unter Windows",
		"Safari unter iOS", "Alle Browser vergessen", "Frankfurt geöffnet", "Entsperren begonnen", "Falscher Code beim zweiten Schritt", "2001:db8:85a3:1234:5678:8a2e:370:7334"} {
		if !strings.Contains(page, want) {
			t.Errorf("the German account page lacks %q", want)
		}
	}
	for _, raw := range []string{"signin.", "factor.", "account.unlocked", "token.issued", "mfa.", "(started)", "(wrong)"} {
		if strings.Contains(page, raw) {
			t.Errorf("the German account page shows the code %q", raw)
		}
	}

	for _, tc := range []struct {
		name          string
		width, height int64
		mobile        bool
		scheme        string
	}{
		{"a phone, light", 390, 844, true, "light"},
		{"a phone, dark", 390, 844, true, "dark"},
		{"a desktop, light", 1280, 900, false, "light"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := chromedp.Call(b.Context(), emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
				Width: tc.width, Height: tc.height, DeviceScaleFactor: 1, Mobile: tc.mobile}); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Call(b.Context(), emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: tc.scheme}}}); err != nil {
				t.Fatal(err)
			}
			b.Do(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.account .events`)))
			if got := Run(b, chromedp.Evaluate[int](`document.querySelectorAll('main .items .item').length`)); got != 4 {
				t.Errorf("%d items listed, want 2 methods and 2 browsers", got)
			}
			if out := Run(b, chromedp.Evaluate[[]string](overflowing)); len(out) > 0 {
				t.Errorf("at %d px:\n  %s", tc.width, strings.Join(out, "\n  "))
			}
		})
	}

	t.Run("new recovery codes, asked for and shown on the phone", func(t *testing.T) {
		if _, err := chromedp.Call(b.Context(), emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: 390, Height: 844, DeviceScaleFactor: 1, Mobile: true}); err != nil {
			t.Fatal(err)
		}
		b.Do(chromedp.Navigate(base+"/account/recovery"), chromedp.WaitVisible(chromedp.CSS(`form[action="/account/recovery"] button[type=submit]`)))
		if out := Run(b, chromedp.Evaluate[[]string](overflowing)); len(out) > 0 {
			t.Errorf("the confirmation at 390 px:\n  %s", strings.Join(out, "\n  "))
		}
		b.Do(chromedp.Click(chromedp.CSS(`form[action="/account/recovery"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.codes-sheet [data-code-actions]:not([hidden])`)))
		if n := Run(b, chromedp.Evaluate[int](`document.querySelectorAll('#recovery-codes li').length`)); n != 10 {
			t.Errorf("%d new codes shown", n)
		}
		if out := Run(b, chromedp.Evaluate[[]string](overflowing)); len(out) > 0 {
			t.Errorf("the new codes at 390 px:\n  %s", strings.Join(out, "\n  "))
		}
	})
	b.CheckProblems()
}

// userAgent sends every request with one User-Agent, as one browser does.
type userAgent struct{ ua string }

func (t userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.ua)
	return http.DefaultTransport.RoundTrip(r)
}
