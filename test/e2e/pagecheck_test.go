package e2e

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// servePage serves one HTML page with a stylesheet under Gatehouse's
// security headers (the strict CSP included).
func servePage(t *testing.T, html, css string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(html))
	})
	mux.HandleFunc("GET /page.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		_, _ = w.Write([]byte(css))
	})
	srv := httptest.NewServer(web.SecurityHeaders(false)(mux))
	t.Cleanup(srv.Close)
	return srv.URL
}

const checkedPage = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Checked</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/page.css"></head>
<body><main class="card"><h1>Checked</h1><h2>Larger</h2><p class="faint">Faint in the dark</p>
<p><span class="hidden">Visually hidden but read out, longer than a phone is wide</span></p>
<div class="wide">wide</div></main></body></html>`

const checkedCSS = `body { margin: 0; background: #fff; color: #111; } .card { max-width: 20rem; margin: 0 auto; }
.faint { color: #1f5fbf; } h1 { font-size: 20px; } h2 { font-size: 24px; }
.hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
@media (prefers-color-scheme: dark) { body { background: #161b22; } .faint { color: color-mix(in srgb, #1f5fbf 90%, #000); } }
@media (max-width: 480px) { .wide { width: 500px; } }`

// TestThePageChecksSeeWhatTheLookChanges proves the checks the tour
// relies on: the emulated dark scheme reaches the page's media queries and
// axe-core judges colours computed with color-mix(); the emulated phone
// width reaches the layout and an element wider than the card is named,
// while visually hidden text is not.
func TestThePageChecksSeeWhatTheLookChanges(t *testing.T) {
	url := servePage(t, checkedPage, checkedCSS)
	b := NewBrowser(t)
	b.Do(chromedp.Navigate(url))
	for _, tc := range []struct {
		look          Look
		wantContrast  bool
		wantTooWide   bool
		wantSideways  bool
		wantNoProblem bool
	}{
		{look: Look{Width: 1280}, wantNoProblem: true},
		{look: Look{Dark: true, Width: 1280}, wantContrast: true},
		{look: Look{Width: 390}, wantTooWide: true, wantSideways: true},
	} {
		t.Run(tc.look.String(), func(t *testing.T) {
			b.SetLook(tc.look)
			var ids []string
			for _, v := range b.Axe() {
				ids = append(ids, v.ID)
				if v.ID == "color-contrast" && !strings.Contains(v.String(), "p.faint") && !strings.Contains(v.String(), ".faint") {
					t.Errorf("the contrast report does not name the element: %s", v)
				}
			}
			if got := slices.Contains(ids, "color-contrast"); got != tc.wantContrast {
				t.Errorf("axe-core reports color-contrast: %v, want %v (violations %v)", got, tc.wantContrast, ids)
			}
			out := strings.Join(b.Overflow(), "\n")
			if got := strings.Contains(out, `div.wide "wide" is 500px wide`); got != tc.wantTooWide {
				t.Errorf("the wide element named: %v, want %v:\n%s", got, tc.wantTooWide, out)
			}
			if got := strings.Contains(out, "scrolls sideways"); got != tc.wantSideways {
				t.Errorf("sideways scrolling named: %v, want %v:\n%s", got, tc.wantSideways, out)
			}
			if strings.Contains(out, "Visually hidden") {
				t.Errorf("visually hidden text counted as sticking out:\n%s", out)
			}
			if tc.wantNoProblem && (len(ids) > 0 || out != "") {
				t.Errorf("a sound page: violations %v, overflow %q", ids, out)
			}
		})
	}
	if got := b.HeadingsOutOfScale(); len(got) != 1 || got[0] != `h2 "Larger" (24px) is larger than h1 "Checked" (20px)` {
		t.Errorf("headings out of scale: %q", got)
	}
	if got := b.VisibleText(); got != "Checked\nLarger\nFaint in the dark\nVisually hidden but read out, longer than a phone is wide\nwide\n" {
		t.Errorf("visible text %q", got)
	}
}
