package notify

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// memSender keeps what it is asked to send.
type memSender struct {
	mu   sync.Mutex
	msgs []Message
}

func (s *memSender) Send(_ context.Context, m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

func newNotifier(t *testing.T, s Sender) *Notifier {
	t.Helper()
	n, err := New(Options{
		Sender: s, Product: "Contoso SSO", BaseURL: "https://sso.corp.example.com/",
		Support: "helpdesk@corp.example.com (+49 30 1234-0)",
		Now:     func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// samples is one message of every kind, with fixed data.
var samples = []struct {
	kind string
	data any
}{
	{KindEmailCode, EmailCode{Code: "042917", ValidFor: 10 * time.Minute, Purpose: PurposeSignIn}},
	{KindPasswordReset, PasswordReset{Time: fixedNow.Add(-2 * time.Minute), IP: "203.0.113.7"}},
	{KindPasswordExpiry, PasswordExpiry{Expires: fixedNow.Add(7*24*time.Hour - time.Hour), ChangeURL: "https://sso.corp.example.com/password/change"}},
	{KindFactorAdded, FactorAdded{Method: "totp", Name: "Pixel 9", Time: fixedNow, IP: "2001:db8::7"}},
	{KindAccountUnlocked, AccountUnlocked{Time: fixedNow, IP: ""}},
}

func TestEveryMessageRendersAsItsGoldenFile(t *testing.T) {
	n := newNotifier(t, &memSender{})
	for _, lang := range Languages() {
		for _, s := range samples {
			t.Run(lang+"/"+s.kind, func(t *testing.T) {
				m, err := n.render(s.kind, Recipient{Address: "alice@corp.example.test", Name: "Alice Smith", Lang: lang}, s.data)
				if err != nil {
					t.Fatal(err)
				}
				got := "Subject: " + m.Subject + "\n\n" + m.Text + "\n----- HTML -----\n" + m.HTML
				path := filepath.Join("testdata", lang+"_"+s.kind+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", path, got)
				}
			})
		}
	}
}

func TestEnglishAndGermanAreAvailableAndOthersFallBack(t *testing.T) {
	if got := strings.Join(Languages(), ","); got != "de,en" {
		t.Fatalf("Languages = %s", got)
	}
	n := newNotifier(t, &memSender{})
	for _, tc := range []struct{ lang, want string }{
		{"de", "Bestätigungscode"},
		{"de-CH", "Bestätigungscode"},
		{"DE_at", "Bestätigungscode"},
		{"en-GB", "verification code"},
		{"fr", "verification code"},
		{"", "verification code"},
	} {
		t.Run("language "+tc.lang, func(t *testing.T) {
			m, err := n.render(KindEmailCode, Recipient{Address: "a@b.c", Lang: tc.lang}, EmailCode{Code: "123456", ValidFor: time.Minute, Purpose: PurposeSignIn})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(m.Subject, tc.want) {
				t.Errorf("subject %q lacks %q", m.Subject, tc.want)
			}
		})
	}
	if _, err := New(Options{Sender: &memSender{}, DefaultLanguage: "xx"}); err == nil {
		t.Error("a default language without templates was accepted")
	}
}

func TestUserTextIsEscapedInHTMLAndSubjectsStayOnOneLine(t *testing.T) {
	s := &memSender{}
	n, err := New(Options{Sender: s, Product: "Evil\r\nBcc: victim@example.com", Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	err = n.FactorAdded(t.Context(), Recipient{Address: "a@b.c", Name: `<script>alert(1)</script>`},
		FactorAdded{Method: "webauthn", Name: `"><img src=x onerror=alert(1)>`, Time: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	m := s.msgs[0]
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<img src=x") {
		t.Errorf("HTML not escaped:\n%s", m.HTML)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject spans lines: %q", m.Subject)
	}
}

func TestTheNoticesCarryWhatTheUserNeeds(t *testing.T) {
	s := &memSender{}
	n := newNotifier(t, s)
	ctx := t.Context()
	to := Recipient{Address: "alice@corp.example.test", Name: "Alice"}
	for _, tc := range []struct {
		name string
		send func() error
		want []string
	}{
		{"a reset notice says when, from where and how to report", func() error {
			return n.PasswordReset(ctx, to, PasswordReset{Time: fixedNow, IP: "203.0.113.7"})
		}, []string{"Sunday, 1 March 2026, 12:00 UTC", "203.0.113.7", "helpdesk@corp.example.com"}},
		{"an expiry reminder links to the change page by default", func() error {
			return n.PasswordExpiry(ctx, to, PasswordExpiry{Expires: fixedNow.Add(24 * time.Hour)})
		}, []string{"tomorrow", "https://sso.corp.example.com/password/change"}},
		{"an expiry reminder on the day says today", func() error {
			return n.PasswordExpiry(ctx, to, PasswordExpiry{Expires: fixedNow})
		}, []string{"today"}},
		{"a factor notice names the method", func() error {
			return n.FactorAdded(ctx, to, FactorAdded{Method: "webauthn", Time: fixedNow})
		}, []string{"passkey or security key"}},
		{"a reset code says what it is for", func() error {
			return n.EmailCode(ctx, to, EmailCode{Code: "123456", ValidFor: 10 * time.Minute, Purpose: PurposeReset})
		}, []string{"reset your password", "123456", "10 minutes"}},
		{"an unlock notice says what happened", func() error {
			return n.AccountUnlocked(ctx, to, AccountUnlocked{Time: fixedNow, IP: "203.0.113.7"})
		}, []string{"unlocked", "203.0.113.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.msgs = nil
			if err := tc.send(); err != nil {
				t.Fatal(err)
			}
			m := s.msgs[0]
			for _, w := range tc.want {
				if !strings.Contains(m.Text, w) || !strings.Contains(m.HTML, w) {
					t.Errorf("text or HTML lacks %q:\n%s", w, m.Text)
				}
			}
		})
	}
	if err := n.PasswordReset(ctx, Recipient{}, PasswordReset{}); err == nil {
		t.Error("a notice without an address was accepted")
	}
}

func TestMaskAddress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice@corp.example.com", "a•••@c•••.com"},
		{"a@c.de", "a•••@c•••.de"},
		{"Bob.Jones@localhost", "B•••@l•••"},
		{"émile@école.fr", "é•••@é•••.fr"},
		{"no-at-sign", "n•••"},
		{"", "•••"},
		{"@example.com", "•••@e•••.com"},
		{"x@example.", "x•••@e•••"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := MaskAddress(tc.in); got != tc.want {
				t.Errorf("MaskAddress(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzMaskAddress(f *testing.F) {
	for _, s := range []string{"alice@corp.example.com", "", "@", "a@b", "\xff@\xfe.com", "a@b.c.d.e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := MaskAddress(in)
		if !utf8.ValidString(got) {
			t.Fatalf("MaskAddress(%q) = %q: invalid UTF-8", in, got)
		}
		if !strings.Contains(got, "•••") {
			t.Fatalf("MaskAddress(%q) = %q: nothing masked", in, got)
		}
		// Of the local part only the first character may show.
		local, _, _ := strings.Cut(strings.TrimSpace(in), "@")
		gotLocal, _, _ := strings.Cut(got, "@")
		r, size := utf8.DecodeRuneInString(local)
		want := "•••"
		if size > 0 && r != utf8.RuneError {
			want = string(r) + want
		}
		if gotLocal != want {
			t.Fatalf("MaskAddress(%q) = %q shows more of the local part than %q", in, got, want)
		}
	})
}
