package e2e

import (
	"regexp"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

var referenceRe = regexp.MustCompile(`^Referenz für Ihren Helpdesk: ([0-9a-f]{24})$`)

// checkReference finds the page's reference and the access log's line of
// the request it names, with the path and status the page was served for.
func checkReference(t *testing.T, b *Browser, logs *testenv.Buffer, path, status string) {
	t.Helper()
	m := referenceRe.FindStringSubmatch(b.Text("main p.hint"))
	if m == nil {
		t.Fatalf("no reference on the page: %q", b.Text("main"))
	}
	line := regexp.MustCompile(`msg="http request" method=\w+ path=` + regexp.QuoteMeta(path) + ` route=.* status=` + status + ` .*request_id=` + m[1])
	if !line.MatchString(logs.String()) {
		t.Errorf("the log has no %s %s with the page's reference %s", path, status, m[1])
	}
}

func TestInChromiumA404AndAStaleFormAreGermanPagesWithAWayOnAndAReference(t *testing.T) {
	base, logs := demoGatehouse(t, nil)
	b := NewBrowser(t)

	t.Run("an unknown address", func(t *testing.T) {
		// The language switcher sets German, then returns to the address.
		b.Do(chromedp.Navigate(base+"/lang?lang=de&back=/no/such/page"), chromedp.WaitVisible(chromedp.CSS("main h1")))
		b.ExpectProblem("404")
		if got := b.Attr("html", "lang"); got != "de" {
			t.Errorf("html lang = %q", got)
		}
		if got := b.Text("main h1"); got != "Seite nicht gefunden" {
			t.Errorf("heading %q", got)
		}
		if href, label := b.Attr("main a.button", "href"), b.Text("main a.button"); href != "/" || label != "Zur Startseite" {
			t.Errorf("next step %q → %q", label, href)
		}
		checkReference(t, b, logs, "/no/such/page", "404")
		b.CheckProblems()
	})

	t.Run("a form whose browser lost its cookie", func(t *testing.T) {
		b.Do(chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("login")))
		action := b.Attr(`form[action^="/login"]`, "action")
		// The browser was restarted, or the cookie cleared, while the
		// form stayed open.
		if _, err := chromedp.Call(b.Context(), network.DeleteCookies, network.DeleteCookiesParams{Name: "gh_csrf", URL: base}); err != nil {
			t.Fatal(err)
		}
		b.Do(chromedp.SendKeys(chromedp.ID("login"), app.DemoUsers()[0].Username), chromedp.Submit(chromedp.ID("login")),
			chromedp.WaitVisible(chromedp.CSS("main p.hint")))
		b.ExpectProblem("403")
		if got := b.Text("main h1"); got != "Dieses Formular ist abgelaufen" {
			t.Errorf("heading %q", got)
		}
		if href, label := b.Attr("main a.button", "href"), b.Text("main a.button"); href != action || label != "Neu beginnen" {
			t.Errorf("next step %q → %q, want → %q", label, href, action)
		}
		checkReference(t, b, logs, "/login", "403")
		b.CheckProblems()

		// Start again: the same sign-in, and now its form goes through.
		b.Do(chromedp.Click(chromedp.CSS("main a.button")), chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SendKeys(chromedp.ID("login"), app.DemoUsers()[0].Username), chromedp.Submit(chromedp.ID("login")),
			chromedp.WaitVisible(chromedp.ID("password")))
	})
}
