package app

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/webauthn/webauthntest"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// enrolAtAccount opens /account in b and signs u in, enrolling an
// authenticator app (its first code taken at now); it returns the app's
// secret and the page showing the recovery codes.
func enrolAtAccount(t *testing.T, b *browse.Browser, u DemoUser, now time.Time) (secret, page string) {
	t.Helper()
	b.Get("/account")
	b.Submit(map[string]string{"login": u.Username})
	page = chooseTOTP(t, b, b.Submit(map[string]string{"password": u.Password}))
	secret = strings.ReplaceAll(secretRe.FindStringSubmatch(page)[1], " ", "")
	code, _ := totp.GenerateCode(secret, now)
	return secret, b.Submit(map[string]string{"code": code})
}

// postWithToken posts fields to action with the CSRF token of b's page, as
// a form with these fields would, and returns the answer.
func postWithToken(t *testing.T, b *browse.Browser, action string, fields map[string]string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(b.Last)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", b.Last)
	}
	b.Last = `<form method="post" action="` + action + `"><input type="hidden" name="csrf_token" value="` + m[1] + `"></form>`
	return b.SubmitForm(action, fields)
}

// factorIDs are the ids of the methods listed on an account page.
func factorIDs(page string) []string {
	var ids []string
	for _, m := range factorIDRe.FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// postRefused posts form to path without a CSRF token and checks it is
// refused.
func postRefused(t *testing.T, b *browse.Browser, path string, form url.Values) {
	t.Helper()
	resp, err := b.C.PostForm(b.Base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a post to %s without the form's token: status %d, want 403", path, resp.StatusCode)
	}
}

// TestNewRecoveryCodesAreMadeOnlyByAPostFromTheAccountPage checks that a
// GET of the recovery path, or a post from another site, changes nothing;
// only the confirmation's form replaces the codes.
func TestNewRecoveryCodesAreMadeOnlyByAPostFromTheAccountPage(t *testing.T) {
	a, srv := newDemo(t)
	bob := DemoUsers()[1]
	b := browse.New(t, srv.URL)
	_, page := enrolAtAccount(t, b, bob, time.Now())
	first := codesRe.FindAllStringSubmatch(page, -1)
	if len(first) != 10 {
		t.Fatalf("want 10 recovery codes at enrolment, got %d", len(first))
	}
	if page = b.Submit(nil); !strings.Contains(page, `href="/account/recovery"`) {
		t.Fatalf("the account page has no way to new recovery codes:\n%s", page)
	}
	u, err := a.Directory.LookupUser(t.Context(), bob.Username)
	if err != nil {
		t.Fatal(err)
	}
	// unchanged fails the test when the enrolment's codes were replaced:
	// the last of them must still work (and is used up by the check).
	left := len(first)
	unchanged := func(what string) {
		t.Helper()
		n, err := a.Factors.Recovery.Verify(t.Context(), u.ID, first[left-1][1])
		if err != nil {
			t.Fatalf("%s replaced the recovery codes: the old code fails (%v)", what, err)
		}
		left--
		if n != left {
			t.Fatalf("%s: %d codes left, want %d", what, n, left)
		}
	}

	t.Run("a GET of the address asks to confirm and makes no codes", func(t *testing.T) {
		page := b.Get("/account/recovery")
		if b.Status != http.StatusOK || !strings.Contains(page, "Make new recovery codes?") || !strings.Contains(page, `action="/account/recovery"`) ||
			!strings.Contains(page, "The recovery codes you have not used yet (10) will stop working.") || len(codesRe.FindAllString(page, -1)) != 0 {
			t.Fatalf("GET /account/recovery: status %d with %d codes:\n%s", b.Status, len(codesRe.FindAllString(page, -1)), page)
		}
		unchanged("a GET")
	})

	t.Run("a post without the form's token is refused", func(t *testing.T) {
		postRefused(t, b, "/account/recovery", url.Values{})
		unchanged("a post without a token")
	})

	t.Run("the confirmation's form replaces the codes", func(t *testing.T) {
		b.Get("/account/recovery")
		page := b.SubmitForm("/account/recovery", nil)
		fresh := codesRe.FindAllStringSubmatch(page, -1)
		if len(fresh) != 10 || !strings.Contains(page, "Your new recovery codes replace the old ones.") {
			t.Fatalf("want 10 new codes, got %d:\n%s", len(fresh), page)
		}
		if _, err := a.Factors.Recovery.Verify(t.Context(), u.ID, first[0][1]); err == nil {
			t.Fatal("an old recovery code still works after new ones were made")
		}
		if _, err := a.Factors.Recovery.Verify(t.Context(), u.ID, fresh[0][1]); err != nil {
			t.Fatalf("a new recovery code fails: %v", err)
		}
	})
}

// timeText returns the text of the <time> element for at on page.
func timeText(page string, at time.Time) string {
	m := regexp.MustCompile(`datetime="` + regexp.QuoteMeta(at.UTC().Format(time.RFC3339)) + `">([^<]*)</time>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestTheAccountPageTellsActivityInTheReadersLanguageAndTimeZone(t *testing.T) {
	// Midday UTC: the same day in Berlin and in Tokyo, so "today" is.
	c := &clock{t: time.Now().UTC().Truncate(24 * time.Hour).Add(12 * time.Hour)}
	a, srv := newDemoAt(t, c.now, func(c *config.Config) { c.UI.TimeZone = "Europe/Berlin" })
	bob := DemoUsers()[1]
	b := browse.New(t, srv.URL)
	enrolAtAccount(t, b, bob, c.now())
	page := b.Submit(nil)
	u, err := a.Directory.LookupUser(t.Context(), bob.Username)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := a.Store.QueryAudit(t.Context(), store.AuditQuery{UserID: u.ID, Type: audit.SignInSuccess})
	if err != nil || len(evs) != 1 {
		t.Fatalf("sign-ins: %v %v", evs, err)
	}
	at := evs[0].Time
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")

	for _, raw := range []string{"signin.success", "factor.enrolled", "mfa.used", "(ok)", ">totp", "Authenticator app – Authenticator app"} {
		if strings.Contains(page, raw) {
			t.Errorf("the page shows the code %q", raw)
		}
	}
	for _, want := range []string{"You are signed in as Bob Jones.", "Signed in", "Authenticator app added", "Times are in the Europe/Berlin time zone."} {
		if !strings.Contains(page, want) {
			t.Errorf("the English page lacks %q", want)
		}
	}
	if got := timeText(page, at); !strings.Contains(got, at.In(berlin).Format("15:04")) {
		t.Errorf("the sign-in at %s shows as %q, not in ui.time_zone", at, got)
	}

	t.Run("in German", func(t *testing.T) {
		page := b.Get("/lang?lang=de&back=/account")
		for _, want := range []string{"Sie sind als Bob Jones angemeldet.", "Angemeldet", "Authenticator-App hinzugefügt", "Zeiten in der Zeitzone Europe/Berlin.",
			"Authenticator-App", "Entfernen", "Heute, " + at.In(berlin).Format("15:04")} {
			if !strings.Contains(page, want) {
				t.Errorf("the German page lacks %q:\n%s", want, page)
			}
		}
		for _, english := range []string{"Signed in", "Authenticator app", "Remove", "Today"} {
			if strings.Contains(page, ">"+english) {
				t.Errorf("the German page shows the English %q", english)
			}
		}
	})

	t.Run("in the browser's time zone when it said one", func(t *testing.T) {
		base, _ := url.Parse(srv.URL)
		b.C.Jar.SetCookies(base, []*http.Cookie{{Name: "gh_tz", Value: "Asia/Tokyo"}})
		page := b.Get("/account")
		if got := timeText(page, at); !strings.Contains(got, at.In(tokyo).Format("15:04")) || !strings.Contains(page, "Zeitzone Asia/Tokyo") {
			t.Errorf("the sign-in at %s shows as %q, not in the browser's Asia/Tokyo", at, got)
		}
	})

	t.Run("in ui.time_zone when the browser's is no zone", func(t *testing.T) {
		base, _ := url.Parse(srv.URL)
		b.C.Jar.SetCookies(base, []*http.Cookie{{Name: "gh_tz", Value: "Mars/Olympus"}})
		page := b.Get("/account")
		if got := timeText(page, at); !strings.Contains(got, at.In(berlin).Format("15:04")) || !strings.Contains(page, "Zeitzone Europe/Berlin") {
			t.Errorf("the sign-in at %s shows as %q", at, got)
		}
	})
}

func TestTheAccountPageNamesAUserWithoutADisplayName(t *testing.T) {
	cfg, err := DemoConfig(filepath.Join(t.TempDir(), "demo"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PrepareDemo(cfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(cfg.Directory.File.Path)
	if err != nil {
		t.Fatal(err)
	}
	var f file.File
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	for i := range f.Users {
		f.Users[i].DisplayName = ""
	}
	if raw, err = yaml.Marshal(f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Directory.File.Path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, srv := startApp(t, cfg, time.Now)
	bob := DemoUsers()[1]
	b := browse.New(t, srv.URL)
	enrolAtAccount(t, b, bob, time.Now())
	if page := b.Submit(nil); !strings.Contains(page, "You are signed in as "+bob.Mail+".") {
		t.Fatalf("the account page does not name the user by their sign-in name:\n%s", page)
	}
	if page := b.Get("/"); !strings.Contains(page, "You are signed in as "+bob.Mail+".") {
		t.Fatalf("the start page does not name the user by their sign-in name:\n%s", page)
	}
}

func TestRemovingTheLastMethodAsksFirstSaysWhatFollowsAndLeavesAWayBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(*config.Config)
		warning string
		next    string // what the next sign-in asks for after the password
		// optional: no second step is required, so none is set up at
		// sign-in; the user has one from elsewhere.
		optional bool
	}{
		{"with recovery codes, they are what is left", func(*config.Config) {},
			"only your recovery codes (10 left) can confirm a sign-in", "You have no passkey or authenticator app any more", false},
		{"without recovery codes, the next sign-in sets a new method up", func(c *config.Config) { c.MFA.Methods = []string{"webauthn", "totp"} },
			"At your next sign-in you will be asked to set up a new one", "Set up a second sign-in method", false},
		{"where no second step is required, the password alone is left", func(c *config.Config) {
			c.MFA.Methods = []string{"webauthn", "totp"}
			c.MFA.RequiredFor = "none"
		}, "your password alone signs you in here", "You are signed in as Bob Jones.", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Now()}
			a, srv := newDemoAt(t, c.now, tc.mod)
			bob := DemoUsers()[1]
			b := browse.New(t, srv.URL)
			var secret string
			if tc.optional {
				u := lookup(t, a, bob.Username)
				secret = enrolTOTP(t, a, u)
				signInPasswordOnly(t, b, bob.Username, bob.Password)
			} else {
				var page string
				secret, page = enrolAtAccount(t, b, bob, c.now())
				if codesRe.MatchString(page) {
					b.Submit(nil)
				}
			}
			ids := factorIDs(b.Get("/account"))
			if len(ids) != 1 {
				t.Fatalf("want one method on /account:\n%s", b.Last)
			}
			c.add(10 * time.Minute)

			// The confirmation, after the step-up a removal needs.
			page := b.Get("/account/factors/remove?id=" + ids[0])
			if !strings.Contains(page, `name="code"`) {
				t.Fatalf("the removal's confirmation without a recent second factor:\n%s", page)
			}
			code, _ := totp.GenerateCode(secret, c.now())
			page = b.Submit(map[string]string{"code": code})
			if !strings.Contains(page, "Remove this sign-in method?") || !strings.Contains(page, "Remove Authenticator app (added ") ||
				!strings.Contains(page, tc.warning) || !strings.Contains(page, `action="/account/factors/remove"`) {
				t.Fatalf("no confirmation saying what follows (%q):\n%s", tc.warning, page)
			}
			u := lookup(t, a, bob.Username)
			if fs, _ := mfa.ListFactors(t.Context(), a.Store, u.ID); !hasMethod(fs, mfa.MethodTOTP) {
				t.Fatal("showing the confirmation removed the method")
			}
			postRefused(t, b, "/account/factors/remove", url.Values{"id": {ids[0]}})
			if fs, _ := mfa.ListFactors(t.Context(), a.Store, u.ID); !hasMethod(fs, mfa.MethodTOTP) {
				t.Fatal("a post without the form's token removed the method")
			}

			page = b.SubmitForm("/account/factors/remove", nil)
			if !strings.Contains(page, "The sign-in method was removed.") || len(factorIDs(page)) != 0 ||
				!strings.Contains(page, `action="/account/factors/add"`) {
				t.Fatalf("not removed, or no way to add a method:\n%s", page)
			}

			// The next sign-in explains itself.
			b2 := browse.New(t, srv.URL)
			b2.Get("/login?login_hint=" + bob.Username)
			if page := b2.Submit(map[string]string{"password": bob.Password}); !strings.Contains(page, tc.next) {
				t.Fatalf("the next sign-in does not show %q:\n%s", tc.next, page)
			}
		})
	}
}

func hasMethod(fs []mfa.Factor, method string) bool {
	for _, f := range fs {
		if f.Method == method {
			return true
		}
	}
	return false
}

func TestAUserWithOnlyRecoveryCodesLeftIsToldWhyAndOfferedANewMethod(t *testing.T) {
	c := &clock{t: time.Now()}
	a, srv := newDemoAt(t, c.now)
	bob := DemoUsers()[1]
	u := lookup(t, a, bob.Username)
	enrolTOTP(t, a, u)
	codes, err := a.Factors.Recovery.Generate(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.DeleteUserCredentials(t.Context(), u.ID, mfa.MethodTOTP); err != nil {
		t.Fatal(err)
	}
	b := browse.New(t, srv.URL)
	b.Get("/account")
	b.Submit(map[string]string{"login": bob.Username})
	page := b.Submit(map[string]string{"password": bob.Password})
	if !strings.Contains(page, "You have no passkey or authenticator app any more, so only a recovery code can confirm it&#39;s you.") ||
		!strings.Contains(page, "Recovery code") {
		t.Fatalf("the recovery-code page does not say why:\n%s", page)
	}
	page = b.Submit(map[string]string{"code": codes[0]})
	if !strings.Contains(page, "only your recovery codes can confirm it&#39;s you. Add a new method.") ||
		!strings.Contains(page, `name="method" value="totp"`) || !strings.Contains(page, `name="method" value="webauthn"`) {
		t.Fatalf("the account page offers no way back:\n%s", page)
	}
}

// answerPasskey answers the passkey page b shows with auth.
func answerPasskey(t *testing.T, b *browse.Browser, auth *webauthntest.Authenticator) string {
	t.Helper()
	m := regexp.MustCompile(`data-webauthn="(get|create)" data-options="([^"]*)"`).FindStringSubmatch(b.Last)
	if m == nil {
		t.Fatalf("no passkey request on the page:\n%s", b.Last)
	}
	var resp []byte
	var err error
	if m[1] == "get" {
		resp, err = auth.Get([]byte(html.UnescapeString(m[2])))
	} else {
		resp, err = auth.Create([]byte(html.UnescapeString(m[2])))
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Submit(map[string]string{"credential": string(resp)})
}

func TestAUserWithAPasskeyAddsAnAuthenticatorApp(t *testing.T) {
	c := &clock{t: time.Now()}
	a, srv := newDemoAt(t, c.now)
	alice := DemoUsers()[0]
	u := lookup(t, a, alice.Username)
	// Alice has a passkey, registered as her browser would.
	auth := webauthntest.New(a.Config.Issuer)
	opts, sess, err := a.Factors.WebAuthn.BeginRegistration(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Factors.WebAuthn.FinishRegistration(t.Context(), u, sess, resp, ""); err != nil {
		t.Fatal(err)
	}
	b := browse.New(t, srv.URL)
	b.Get("/account")
	b.Submit(map[string]string{"login": alice.Username})
	b.Submit(map[string]string{"password": alice.Password})
	if page := answerPasskey(t, b, auth); !strings.Contains(page, "Add an authenticator app") || len(factorIDs(page)) != 1 {
		t.Fatalf("not at the account page with one method:\n%s", page)
	}
	stored := func() int {
		fs, err := mfa.ListFactors(t.Context(), a.Store, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(fs)
	}
	before := stored()

	t.Run("a GET cannot add a method, nor a post without the form's token", func(t *testing.T) {
		resp, err := b.C.Get(srv.URL + "/account/factors/add?method=totp")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET: status %d, want 405", resp.StatusCode)
		}
		postRefused(t, b, "/account/factors/add", url.Values{"method": {"totp"}})
		if stored() != before {
			t.Fatal("a method was added")
		}
	})

	t.Run("within five minutes of the passkey, the enrolment comes at once", func(t *testing.T) {
		b.Get("/account")
		page := b.SubmitForm("/account/factors/add", map[string]string{"method": "totp"})
		if !strings.Contains(page, "<h1>Add a sign-in method</h1>") || !strings.Contains(page, "Set up one more way to confirm it&#39;s you.") ||
			!secretRe.MatchString(page) {
			t.Fatalf("no authenticator-app enrolment:\n%s", page)
		}
	})

	var secret string
	t.Run("later, the passkey is asked for first, then the app is set up and works", func(t *testing.T) {
		c.add(10 * time.Minute)
		b.Get("/account")
		page := b.SubmitForm("/account/factors/add", map[string]string{"method": "totp"})
		if !strings.Contains(page, `data-webauthn="get"`) || secretRe.MatchString(page) {
			t.Fatalf("adding a method ten minutes after the last second factor was not stepped up:\n%s", page)
		}
		page = answerPasskey(t, b, auth)
		m := secretRe.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no enrolment after the step-up:\n%s", page)
		}
		secret = strings.ReplaceAll(m[1], " ", "")
		code, _ := totp.GenerateCode(secret, c.now())
		page = b.Submit(map[string]string{"code": code})
		if codesRe.MatchString(page) { // her first recovery codes, with the first code method
			page = b.Submit(nil)
		}
		if !strings.Contains(page, "Added: Authenticator app.") || len(factorIDs(page)) != 2 || !strings.Contains(b.URL, "/account") {
			t.Fatalf("not back at the account page with two methods:\n%s", page)
		}
		if page := b.Get(strings.TrimPrefix(b.URL, srv.URL)); strings.Contains(page, "Added: Authenticator app.") {
			t.Fatal("the notice shows again on a reload")
		}
	})

	t.Run("the new method signs her in next time", func(t *testing.T) {
		b2 := browse.New(t, srv.URL)
		b2.Get("/login?login_hint=" + alice.Username)
		b2.Submit(map[string]string{"password": alice.Password})
		b2.Get(strings.TrimPrefix(b2.URL, srv.URL) + "&method=totp")
		code, _ := totp.GenerateCode(secret, c.now().Add(30*time.Second))
		if page := b2.Submit(map[string]string{"code": code}); !strings.Contains(page, "You are signed in as Alice Smith.") {
			t.Fatalf("the new authenticator app does not sign in:\n%s", page)
		}
	})
}

// userAgentTransport sends every request with one User-Agent, as one
// browser does.
type userAgentTransport struct{ ua string }

func (t userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.ua)
	return http.DefaultTransport.RoundTrip(r)
}

func TestRememberedBrowsersAreListedAndForgottenOneByOne(t *testing.T) {
	c := &clock{t: time.Now()}
	a, srv := newDemoAt(t, c.now, func(cfg *config.Config) { cfg.Sessions.RememberDevice = 720 * time.Hour })
	alice := DemoUsers()[0]
	u := lookup(t, a, alice.Username)
	secret := enrolTOTP(t, a, u)
	// signIn signs alice in on b, ticking "remember this browser" when
	// the second step is asked; it reports whether it was.
	signIn := func(b *browse.Browser) (asked bool) {
		t.Helper()
		b.Get("/login?login_hint=" + alice.Username)
		page := b.Submit(map[string]string{"password": alice.Password})
		if strings.Contains(page, "You are signed in as") {
			return false
		}
		if !strings.Contains(page, `name="code"`) {
			t.Fatalf("no second step:\n%s", page)
		}
		c.add(45 * time.Second) // a new step: each code works once
		code, _ := totp.GenerateCode(secret, c.now())
		if page := b.Submit(map[string]string{"code": code, "remember": "1"}); !strings.Contains(page, "You are signed in as Alice Smith.") {
			t.Fatalf("not signed in:\n%s", page)
		}
		return true
	}
	browser := func(ua string) *browse.Browser {
		b := browse.New(t, srv.URL)
		b.C.Transport = userAgentTransport{ua}
		return b
	}
	firefox := browser("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0")
	chrome := browser("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36")
	signIn(firefox)
	signIn(chrome)

	page := firefox.Get("/account")
	for _, want := range []string{"Remembered browsers", "Firefox on Windows <span class=\"tag\">This browser</span>", "Chrome on Android",
		"<dd>127.0.0.1</dd>", "Forget all browsers"} {
		if !strings.Contains(page, want) {
			t.Errorf("the list of remembered browsers lacks %q", want)
		}
	}
	ids := regexp.MustCompile(`<input type="hidden" name="id" value="([^"]+)"><button type="submit" class="secondary">Forget<span class="sr"> Chrome on Android`).FindStringSubmatch(page)
	if ids == nil {
		t.Fatalf("no Forget button for the other browser:\n%s", page)
	}

	t.Run("another user's browser cannot be forgotten", func(t *testing.T) {
		bob := browse.New(t, srv.URL)
		enrolAtAccount(t, bob, DemoUsers()[1], c.now())
		bob.Submit(nil)
		postWithToken(t, bob, "/account/devices/forget", map[string]string{"id": ids[1]})
		if bob.Status != http.StatusNotFound {
			t.Fatalf("status %d, want 404", bob.Status)
		}
	})

	t.Run("forgetting one keeps the other", func(t *testing.T) {
		firefox.Get("/account")
		page := postWithToken(t, firefox, "/account/devices/forget", map[string]string{"id": ids[1]})
		if !strings.Contains(page, "The browser was forgotten") || strings.Contains(page, "Chrome on Android") || !strings.Contains(page, "Firefox on Windows") {
			t.Fatalf("after forgetting Chrome:\n%s", page)
		}
		for _, b := range []*browse.Browser{firefox, chrome} {
			b.Get("/logout")
			b.Submit(nil)
		}
		if !signIn(chrome) {
			t.Error("the forgotten browser skipped the second step")
		}
		if signIn(firefox) {
			t.Error("the browser still remembered asked for the second step")
		}
	})

	t.Run("forgetting all", func(t *testing.T) {
		firefox.Get("/account")
		postWithToken(t, firefox, "/account/devices/forget", nil)
		page := firefox.Get("/account")
		if !strings.Contains(page, "No browser is remembered.") {
			t.Fatalf("browsers left after forgetting all:\n%s", page)
		}
	})

	t.Run("each forgetting is in the audit trail and on the page", func(t *testing.T) {
		evs, err := a.Store.QueryAudit(t.Context(), store.AuditQuery{UserID: u.ID, Type: audit.DeviceForgotten})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			var d map[string]string
			if err := json.Unmarshal(e.Detail, &d); err != nil {
				t.Fatal(err)
			}
			got = append(got, d["browsers"])
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"all", "one"}) {
			t.Errorf("device.forgotten events for %v, want one and all", got)
		}
		page := firefox.Get("/account")
		for _, want := range []string{"A remembered browser was forgotten", "Every remembered browser was forgotten"} {
			if !strings.Contains(page, want) {
				t.Errorf("the activity lacks %q", want)
			}
		}
	})
}
