package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// unmasked is page without what differs between any two flows — the flow
// id and the CSRF token — and nothing else: unlike normalise, the masked
// address stays.
func unmasked(page string) string {
	return tokenRe.ReplaceAllString(flowIDRe.ReplaceAllString(page, "flow=X"), "csrf")
}

// resetWalk starts a flow at path for login and asks for an email code; it
// returns the browser, on the answer.
func resetWalk(t *testing.T, base, path, login string) *browse.Browser {
	t.Helper()
	b := browse.New(t, base)
	b.Get(path)
	b.Submit(map[string]string{"login": login})
	sendEmailCode(t, b)
	return b
}

// sameAnswer fails unless the known and the unknown account's browsers got
// the same status and, but for flow ids and CSRF tokens, the same page.
func sameAnswer(t *testing.T, what string, known, unknown *browse.Browser) {
	t.Helper()
	if known.Status != unknown.Status || unmasked(known.Last) != unmasked(unknown.Last) {
		t.Fatalf("%s: a known account got %d, an unknown one %d; pages equal: %v\n%s\n----\n%s", what, known.Status, unknown.Status,
			unmasked(known.Last) == unmasked(unknown.Last), unmasked(known.Last), unmasked(unknown.Last))
	}
}

// unknownLike is a login no account has, starting with name's first
// letter, as an attacker guessing names of one shape would type.
func unknownLike(name string) string { return name[:1] + "-nobody-" + name[1:] }

func TestAnUnknownLoginIsShownTheAddressARealAccountOfThatLoginWouldShow(t *testing.T) {
	_, srv, mail := newADAppWithMail(t, nil)
	name := newADUser(t, "Some!Passw0rd-u1")
	for _, path := range []string{"/password/reset", "/account/unlock"} {
		for _, tc := range []struct{ what, known, unknown string }{
			{"a user name", name, unknownLike(name)},
			{"a user principal name", name + "@" + testenv.ADDNSDomain, unknownLike(name) + "@" + testenv.ADDNSDomain},
		} {
			t.Run(tc.what+" at "+path, func(t *testing.T) {
				known := resetWalk(t, srv.URL, path, tc.known)
				if want := "We sent a code to " + name[:1] + "•••@c•••.test"; !strings.Contains(known.Last, want) {
					t.Fatalf("the known account's page does not say %q:\n%s", want, known.Last)
				}
				sameAnswer(t, "the email step", known, resetWalk(t, srv.URL, path, tc.unknown))
			})
		}
	}
	if n := len(mail.Messages()); n != 4 {
		t.Errorf("%d mails sent, want 4, all to the known account", n)
	}
}

func TestAtTheEmailSendCapARealAndAnUnknownAccountAnswerAlike(t *testing.T) {
	_, srv, mail := newADAppWithMail(t, nil)
	name := newADUser(t, "Some!Passw0rd-u2")
	for i := 1; i <= 7; i++ {
		known := resetWalk(t, srv.URL, "/password/reset", name)
		unknown := resetWalk(t, srv.URL, "/password/reset", unknownLike(name))
		sameAnswer(t, "send "+string(rune('0'+i)), known, unknown)
		capped := known.Status == 429 && strings.Contains(known.Last, "Too many codes were asked for")
		if capped != (i > 5) {
			t.Fatalf("send %d: status %d, capped %v; want the cap after 5 sends", i, known.Status, capped)
		}
	}
	if n := len(mail.Messages()); n != 5 {
		t.Errorf("%d mails sent, want 5", n)
	}
}

func TestWrongCodesAreLimitedForAnUnknownAccountAtTheSameCountAsForARealOne(t *testing.T) {
	for _, tc := range []struct {
		method string
		send   bool // the code is an email's: ask for one first
	}{{"totp", false}, {"email", true}} {
		t.Run("a wrong "+tc.method+" code", func(t *testing.T) {
			// An instance of its own: the self-service code budget per
			// client address is shared by both accounts of a subtest.
			a, srv, _ := newADAppWithMail(t, nil)
			name := newADUser(t, "Some!Passw0rd-u3")
			userWithTOTP(t, a, name, time.Now())
			start := func(login string) *browse.Browser {
				b := browse.New(t, srv.URL)
				b.Get("/password/reset")
				b.Submit(map[string]string{"login": login})
				if tc.send {
					sendEmailCode(t, b)
				}
				return b
			}
			known, unknown := start(name), start(unknownLike(name))
			for i := 1; i <= 7; i++ {
				submitMethod(t, known, tc.method, "000000")
				submitMethod(t, unknown, tc.method, "000000")
				sameAnswer(t, "attempt "+string(rune('0'+i)), known, unknown)
				if throttled := known.Status == 429; throttled != (i > 5) {
					t.Fatalf("attempt %d: status %d; want 401 for five, then 429", i, known.Status)
				}
				// A throttled answer says when to come back, the same for both.
				if ra := known.Header.Get("Retry-After"); (ra != "") != (i > 5) || ra != unknown.Header.Get("Retry-After") {
					t.Fatalf("attempt %d: Retry-After %q (unknown account: %q)", i, ra, unknown.Header.Get("Retry-After"))
				}
			}
		})
	}
}

func TestWhileTheMailServerIsDownARealAndAnUnknownAccountAreToldTheSame(t *testing.T) {
	_, srv, mail := newADAppWithMail(t, nil)
	name := newADUser(t, "Some!Passw0rd-u4")
	mail.Stop()
	known := resetWalk(t, srv.URL, "/password/reset", name)
	if known.Status != 503 || !strings.Contains(known.Last, "couldn&#39;t send the code") {
		t.Fatalf("a known account while the mail server is down: status %d\n%s", known.Status, known.Last)
	}
	sameAnswer(t, "the email step", known, resetWalk(t, srv.URL, "/password/reset", unknownLike(name)))
}

func TestASignInToALockedADAccountIsAnsweredLikeAWrongPasswordWhateverThePassword(t *testing.T) {
	a, srv, _ := newADAppWithMail(t, nil)
	const pw = "Locked!Passw0rd-u5"
	name := newADUser(t, pw)
	testenv.ApplyADPSO(t, testenv.ADPSO{LockoutThreshold: 2, LockoutMinutes: 30}, name)
	for range 2 {
		_, _ = a.Directory.Authenticate(context.Background(), name, "Wrong!Passw0rd-9")
	}
	if _, err := a.Directory.Authenticate(context.Background(), name, pw); !errors.Is(err, directory.ErrAccountLocked) {
		t.Fatalf("the user is not locked out (data 775): %v", err)
	}
	signIn := func(login, password string) *browse.Browser {
		b := browse.New(t, srv.URL)
		b.Get("/login?login_hint=" + login)
		b.Submit(map[string]string{"password": password})
		b.Last = strings.ReplaceAll(b.Last, login, "LOGIN") // the page names the login typed
		return b
	}
	unknown := signIn(unknownLike(name), "Wrong!Passw0rd-9")
	if unknown.Status != 401 || !strings.Contains(unknown.Last, `href="/account/unlock"`) {
		t.Fatalf("an unknown user: status %d, want 401 with the unlock link\n%s", unknown.Status, unknown.Last)
	}
	for _, tc := range []struct{ name, password string }{{"the right password", pw}, {"a wrong password", "Wrong!Passw0rd-9"}} {
		t.Run("with "+tc.name, func(t *testing.T) {
			sameAnswer(t, "the password step", signIn(name, tc.password), unknown)
		})
	}
}
