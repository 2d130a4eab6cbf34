// Package browse is a scripted browser for HTTP-level tests of Gatehouse's
// pages: a cookie jar, redirects followed hop by hop, and forms submitted
// with their hidden fields (CSRF token, step, method) filled in as a
// browser would. Real-browser tests use Chromium (test/e2e); this covers
// logic quickly.
package browse

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser keeps cookies and the last page.
type Browser struct {
	T      testing.TB
	C      *http.Client
	Base   string
	Last   string // body of the last page
	Status int    // status of the last page
	URL    string // URL of the last page
	// Header is the last page's response header.
	Header http.Header
}

// New returns a browser for the site at base.
func New(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{T: t, Base: base, C: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Get loads path (or an absolute URL), follows redirects and returns the
// final body.
func (b *Browser) Get(path string) string {
	b.T.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = b.Base + path
	}
	return b.follow(func() (*http.Response, error) { return b.C.Get(u) })
}

func (b *Browser) follow(first func() (*http.Response, error)) string {
	b.T.Helper()
	resp, err := first()
	for range 20 {
		if err != nil {
			b.T.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if loc == "" || resp.StatusCode < 300 || resp.StatusCode > 399 {
			b.Last, b.Status, b.URL, b.Header = string(body), resp.StatusCode, resp.Request.URL.String(), resp.Header
			checkFormatting(b.T, b.URL, b.Last)
			return b.Last
		}
		next, perr := resp.Request.URL.Parse(loc)
		if perr != nil {
			b.T.Fatal(perr)
		}
		resp, err = b.C.Get(next.String())
	}
	b.T.Fatal("too many redirects")
	return ""
}

// checkFormatting fails the test when a page shows a fmt error such as
// "%!(EXTRA string=)" or "%!d(MISSING)": a catalog message formatted with
// arguments it does not take, or without those it does. Every page every
// test loads is checked.
func checkFormatting(t testing.TB, url, page string) {
	t.Helper()
	if i := strings.Index(page, "%!"); i >= 0 {
		t.Errorf("the page at %s shows a formatting error: %q", url, page[max(0, i-60):min(len(page), i+40)])
	}
}

var (
	formRe   = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

// Action returns the first form's action on the last page.
func (b *Browser) Action() string {
	b.T.Helper()
	m := formRe.FindStringSubmatch(b.Last)
	if m == nil {
		b.T.Fatalf("no form on the page:\n%s", b.Last)
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// Submit posts the first form of the last page with its hidden fields and
// fields, follows redirects, and returns the final body.
func (b *Browser) Submit(fields map[string]string) string {
	b.T.Helper()
	return b.submit(b.Action(), strings.Index(b.Last, `<form method="post"`), fields)
}

// SubmitForm is Submit for the form of the last page that posts to action
// (as written in the page), when it is not the first.
func (b *Browser) SubmitForm(action string, fields map[string]string) string {
	b.T.Helper()
	start := strings.Index(b.Last, `<form method="post" action="`+action+`"`)
	if start < 0 {
		b.T.Fatalf("no form posting to %s on the page:\n%s", action, b.Last)
	}
	return b.submit(strings.ReplaceAll(action, "&amp;", "&"), start, fields)
}

func (b *Browser) submit(action string, start int, fields map[string]string) string {
	b.T.Helper()
	form := url.Values{}
	end := strings.Index(b.Last[start:], "</form>")
	for _, m := range hiddenRe.FindAllStringSubmatch(b.Last[start:start+end], -1) {
		form.Set(m[1], strings.ReplaceAll(m[2], "&amp;", "&"))
	}
	for k, v := range fields {
		form.Set(k, v)
	}
	target, err := url.Parse(b.URL)
	if err != nil || b.URL == "" {
		target, _ = url.Parse(b.Base)
	}
	u, err := target.Parse(action)
	if err != nil {
		b.T.Fatal(err)
	}
	return b.follow(func() (*http.Response, error) { return b.C.PostForm(u.String(), form) })
}
