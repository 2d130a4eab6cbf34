package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// AxeTags are the axe-core rule tags every page is judged by: WCAG 2.0,
// 2.1 and 2.2 at levels A and AA (axe files the 2.2 A rules under the
// older tags).
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

// axeDir is test/e2e/axe: a package.json and package-lock.json that pin
// axe-core; node_modules is installed on first use and never committed.
func axeDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("e2e: cannot find own source file")
	}
	return filepath.Join(filepath.Dir(file), "axe")
}

var axeSource struct {
	sync.Mutex
	js string
}

// axeScript returns axe.min.js, installing axe-core with npm when missing
// (skipped locally and failing under CI without npm, as the validators).
func axeScript(tb testing.TB) string {
	tb.Helper()
	axeSource.Lock()
	defer axeSource.Unlock()
	if axeSource.js == "" {
		validators.EnsureNodeModules(tb, axeDir(), "axe-core")
		js, err := os.ReadFile(filepath.Join(axeDir(), "node_modules", "axe-core", "axe.min.js"))
		if err != nil {
			tb.Fatalf("read axe.min.js: %v", err)
		}
		axeSource.js = string(js)
	}
	return axeSource.js
}

// AxeViolation is one rule axe-core found broken, with the elements that
// break it.
type AxeViolation struct {
	ID, Impact, Help, HelpURL string
	Nodes                     []struct {
		Target         []any
		FailureSummary string
	}
}

// String is a readable report of the violation: rule, impact, and per
// element its selector and what is wrong.
func (v AxeViolation) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&s, "\n      %v\n        %s", n.Target, strings.ReplaceAll(strings.TrimSpace(n.FailureSummary), "\n", "\n        "))
	}
	return s.String()
}

// Axe runs axe-core on the page the tab shows, with the rules of AxeTags,
// and returns the violations. axe.min.js is evaluated through the DevTools
// protocol, so the page's Content-Security-Policy stays as it is.
func (b *Browser) Axe() []AxeViolation {
	b.t.Helper()
	js := axeScript(b.t)
	if !Run(b, chromedp.Evaluate[bool](`typeof window.axe === "object"`)) {
		b.Do(chromedp.Evaluate[chromedp.Void](js))
	}
	tags := `["` + strings.Join(AxeTags, `","`) + `"]`
	return Run(b, chromedp.Evaluate[[]AxeViolation](`axe.run(document, {runOnly: {type: "tag", values: `+tags+`},
  resultTypes: ["violations"]}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
}

// Look is how the page is shown: colour scheme and viewport width.
type Look struct {
	Dark  bool
	Width int64 // CSS pixels; 390 and below is a phone (mobile viewport, touch)
}

func (l Look) String() string {
	scheme := "light"
	if l.Dark {
		scheme = "dark"
	}
	return fmt.Sprintf("%s %dpx", scheme, l.Width)
}

// SetLook emulates the colour scheme and the viewport width (height 900)
// without reloading the page.
func (b *Browser) SetLook(l Look) {
	b.t.Helper()
	scheme := "light"
	if l.Dark {
		scheme = "dark"
	}
	phone := l.Width <= 480
	b.Do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}), chromedp.EmulateViewport(l.Width, 900, func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
		p.Mobile = phone
	}))
}

// SetAcceptLanguage sends lang as Accept-Language with every request of
// the tab from now on.
func (b *Browser) SetAcceptLanguage(lang string) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": lang}}); err != nil {
		b.t.Fatalf("Network.setExtraHTTPHeaders: %v", err)
	}
}

// overflowJS lists what is wider than the card (main.card) or sticks out
// of it: elements and runs of text, compared by their bounding rectangles,
// and a page that scrolls sideways. Elements that take no room (hidden
// inputs, visually hidden text clipped to a pixel) are left out.
const overflowJS = `(() => {
  const card = document.querySelector("main.card");
  if (!card) return ["the page has no main.card"];
  const c = card.getBoundingClientRect();
  const out = [];
  const name = el => {
    let s = el.tagName.toLowerCase();
    if (el.getAttribute("id")) s += "#" + el.getAttribute("id");
    for (const k of el.classList) s += "." + k;
    const text = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().replace(/\s+/g, " ");
    return text ? s + " \"" + text.slice(0, 40) + "\"" : s;
  };
  const check = (what, r) => {
    if (r.width <= 1 || r.height <= 1) return;
    if (r.width > c.width + 0.5) out.push(what + " is " + Math.round(r.width) + "px wide, the card " + Math.round(c.width) + "px");
    else if (r.left < c.left - 0.5 || r.right > c.right + 0.5) out.push(what + " sticks out of the card (" +
      Math.round(r.left) + ".." + Math.round(r.right) + "px, the card " + Math.round(c.left) + ".." + Math.round(c.right) + "px)");
  };
  for (const el of card.querySelectorAll("*")) check(name(el), el.getBoundingClientRect());
  const walk = document.createTreeWalker(card, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (!n.data.trim()) continue;
    const box = n.parentElement.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue; // visually hidden: clipped to a pixel
    const range = document.createRange();
    range.selectNodeContents(n);
    check("the text \"" + n.data.trim().slice(0, 40) + "\" in " + name(n.parentElement), range.getBoundingClientRect());
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth) out.push("the page scrolls sideways: " + doc.scrollWidth + "px wide in a " + doc.clientWidth + "px viewport");
  return out;
})()`

// Overflow names every element or text that is wider than the page's card
// or sticks out of it, and a page that scrolls sideways.
func (b *Browser) Overflow() []string {
	b.t.Helper()
	return Run(b, chromedp.Evaluate[[]string](overflowJS))
}

// headingsJS names each heading whose text is larger than a heading of a
// higher level (an h2 larger than the h1).
const headingsJS = `(() => {
  const size = el => parseFloat(getComputedStyle(el).fontSize);
  const out = [];
  const hs = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")];
  for (const h of hs) for (const above of hs)
    if (above.tagName < h.tagName && size(h) > size(above))
      out.push(h.tagName.toLowerCase() + " \"" + h.innerText.trim() + "\" (" + size(h) + "px) is larger than " +
        above.tagName.toLowerCase() + " \"" + above.innerText.trim() + "\" (" + size(above) + "px)");
  return out;
})()`

// HeadingsOutOfScale names each heading set larger than a heading of a
// higher level.
func (b *Browser) HeadingsOutOfScale() []string {
	b.t.Helper()
	return Run(b, chromedp.Evaluate[[]string](headingsJS))
}

// VisibleText is the text the page shows (document.body.innerText), each
// line trimmed with its runs of white space made one space, empty lines
// dropped.
func (b *Browser) VisibleText() string {
	b.t.Helper()
	raw := Run(b, chromedp.Evaluate[string](`document.body.innerText`))
	var lines []string
	for _, l := range strings.Split(raw, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
