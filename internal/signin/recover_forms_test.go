package signin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// everyMethod offers all four recovery methods: a passkey, authenticator
// and recovery codes (recoveringFactors) and email codes (mailingFactors).
type everyMethod struct{ *mailingFactors }

func (everyMethod) RecoveryMethods() []string {
	return []string{"webauthn", "totp", "email", "recovery"}
}

// resetFormsEnv serves a reset at /password/reset offering every method,
// for alice, who has a mail address and an authenticator app ("123456").
func resetFormsEnv(t *testing.T) string {
	t.Helper()
	e := newEnv(t, "none", user(t, "alice", alicePW, func(u *file.UserFile) { u.Mail = "alice@corp.example.test" }))
	e.factors.enrolled[fmt.Sprintf("%032x", "alice")] = []string{"email", "totp"}
	e.engine.factors = everyMethod{&mailingFactors{recoveringFactors: &recoveringFactors{fakeFactors: e.factors}}}
	e.engine.padWait = func(context.Context, time.Time, time.Duration) {}
	mux := http.NewServeMux()
	e.engine.MountRecovery(mux, Recovery{Kind: "reset", Path: "/password/reset", Title: "reset.title", Intro: "reset.intro",
		Event: "password.reset", Purpose: "reset", NewPassword: true, Policy: policy.Settings{}, DecoyKey: []byte("decoy"),
		MailDomain: "corp.example.test", Ending: resetEnding{e}})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// resetEnding resets the password in the test's directory, which refuses
// a reused one by its history.
type resetEnding struct{ e *env }

func (r resetEnding) End(ctx context.Context, _ *http.Request, u *directory.User, pw string, _ []string) (string, error) {
	return "reset.done", r.e.engine.dir.(directory.PasswordResetter).ResetPassword(ctx, u, pw)
}

var (
	buttonRe = regexp.MustCompile(`(?s)<(?:button|a)\b[^>]*>(.*?)</(?:button|a)>`)
	tagRe    = regexp.MustCompile(`<[^>]*>`)
)

// labels lists the text of every button and link inside the page's main.
func labels(page string) []string {
	main := page[strings.Index(page, "<main"):strings.Index(page, "</main>")]
	var out []string
	for _, m := range buttonRe.FindAllStringSubmatch(main, -1) {
		out = append(out, strings.TrimSpace(tagRe.ReplaceAllString(m[1], "")))
	}
	return out
}

// startReset names login on the reset's first page and returns the browser
// on the verify page.
func startReset(t *testing.T, base, login string) *browse.Browser {
	t.Helper()
	b := browse.New(t, base)
	b.Get("/password/reset")
	b.Submit(map[string]string{"login": login})
	return b
}

func TestTheResetVerifyPageShowsOneMethodAtATimeWithButtonsThatSayWhatTheyDo(t *testing.T) {
	base := resetFormsEnv(t)
	b := startReset(t, base, "alice")
	choice := b.Last
	if strings.Contains(choice, `name="code"`) || strings.Contains(choice, "If the account exists") {
		t.Fatalf("the first verify page is not the choice of methods:\n%s", choice)
	}
	if got, want := labels(choice), []string{"Passkey or security key", "Code from your authenticator app", "Code sent by email", "Recovery code"}; !slices.Equal(got, want) {
		t.Fatalf("the choice offers %q, want %q", got, want)
	}
	flow := b.URL
	for _, tc := range []struct {
		method string
		// field is the code field's id ("" for none); numeric: it takes
		// digits only.
		field   string
		numeric bool
		button  string // the page's one submitting button
	}{
		{"webauthn", "", false, "Use a passkey"},
		{"totp", "code_totp", true, "Verify"},
		{"email", "", false, "Email me a code"},
		{"recovery", "code_recovery", false, "Verify"},
	} {
		t.Run("the "+tc.method+" page", func(t *testing.T) {
			page := b.Get(flow + "&method=" + tc.method)
			got := labels(page)
			if !slices.Contains(got, tc.button) || len(got) != 4 {
				t.Errorf("labels %q: want %q and a link to each of the three other methods", got, tc.button)
			}
			if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
				t.Errorf("two buttons or links say the same: %q", got)
			}
			if n := strings.Count(page, `name="code"`); (tc.field == "") != (n == 0) || n > 1 {
				t.Fatalf("%d code fields, want one only with %q:\n%s", n, tc.field, page)
			}
			if tc.field == "" {
				if tc.method == "webauthn" && !has(b.Field("webauthn-start"), "autofocus") {
					t.Errorf("the passkey button is not focused:\n%s", page)
				}
				return
			}
			f := b.Field(tc.field)
			if f["autocomplete"] != "one-time-code" || !has(f, "autofocus") {
				t.Errorf("the code field lacks autocomplete=one-time-code or autofocus: %v", f)
			}
			if numeric := f["inputmode"] == "numeric" && f["pattern"] == "[0-9 ]*"; numeric != tc.numeric {
				t.Errorf("the code field is numeric: %v, want %v (%v)", numeric, tc.numeric, f)
			}
		})
	}
	t.Run("the email page asks to send first, then shows the field for the code", func(t *testing.T) {
		b.Get(flow + "&method=email")
		page := b.Submit(map[string]string{"send": "1"})
		if !strings.Contains(page, "We sent a code to a•••@c•••.test") || b.Field("code_email") == nil {
			t.Fatalf("no code field after the send:\n%s", page)
		}
		f := b.Field("code_email")
		if f["inputmode"] != "numeric" || f["autocomplete"] != "one-time-code" || !has(f, "autofocus") {
			t.Errorf("the email code field: %v", f)
		}
		if got := labels(page); !slices.Contains(got, "Verify") || !slices.Contains(got, "Send a new code") || slices.Contains(got, "Email me a code") {
			t.Errorf("labels after the send: %q", got)
		}
	})
	t.Run("a wrong code comes back empty, focused and described by its error", func(t *testing.T) {
		b.Get(flow + "&method=totp")
		b.Submit(map[string]string{"code": "000000"})
		f := b.Field("code_totp")
		if b.Status != http.StatusUnauthorized || f["value"] != "" || !has(f, "autofocus") || f["aria-invalid"] != "true" ||
			!strings.HasPrefix(f["aria-describedby"], "code_totp-error") || !strings.Contains(b.Last, `id="code_totp-error">That code didn`) {
			t.Fatalf("status %d, field %v:\n%s", b.Status, f, b.Last)
		}
	})
	t.Run("a weak method verified asks for one more, without offering it again", func(t *testing.T) {
		b.Get(flow + "&method=email")
		i := strings.Index(b.Last, `id="code_email"`)
		b.Last = b.Last[strings.LastIndex(b.Last[:i], "<form"):]
		page := b.Submit(map[string]string{"code": "anything"}) // the fake takes any email code of an account with mail
		if !strings.Contains(page, "Confirm it&#39;s you with one more method.") || slices.Contains(labels(page), "Code sent by email") {
			t.Fatalf("not asked for one more method:\n%s", page)
		}
	})
}

func has(attrs map[string]string, name string) bool {
	_, ok := attrs[name]
	return ok
}

func TestAFailedResetPasswordKeepsTheRightFieldsAndFocusesTheWrongOne(t *testing.T) {
	base := resetFormsEnv(t)
	b := startReset(t, base, "alice")
	b.Get(b.URL + "&method=totp")
	b.Submit(map[string]string{"code": "123456"})
	checkFields(t, b, map[string]fieldState{FieldNew: {focused: true}, FieldConfirm: {}})
	form := b.Last
	for _, tc := range []struct {
		name         string
		newPW, again string
		want         map[string]fieldState
	}{
		{"a new password the policy refuses is cleared with its confirmation and focused", "short", "short",
			map[string]fieldState{FieldNew: {focused: true, invalid: true}, FieldConfirm: {}}},
		{"a reused one the directory refuses is cleared alike", alicePW, alicePW,
			map[string]fieldState{FieldNew: {focused: true, invalid: true}, FieldConfirm: {}}},
		{"a confirmation that does not match is cleared and focused, the new one kept", newPW, newPW + "x",
			map[string]fieldState{FieldNew: {kept: true}, FieldConfirm: {focused: true, invalid: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.Last = form
			b.Submit(map[string]string{FieldNew: tc.newPW, FieldConfirm: tc.again})
			if b.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422:\n%s", b.Status, b.Last)
			}
			checkFields(t, b, tc.want)
		})
	}
	if got := b.Field(FieldNew)["value"]; got != newPW {
		t.Fatalf("the new password field shows %q, want the one typed", got)
	}
	if page := b.Submit(map[string]string{FieldNew: newPW, FieldConfirm: newPW}); !strings.Contains(page, "Your password was reset.") {
		t.Fatalf("the reset failed:\n%s", page)
	}
}
