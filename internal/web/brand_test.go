package web

import (
	"io"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

func mustColor(t *testing.T, s string) RGB {
	t.Helper()
	c, err := ParseColor(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestContrastMatchesWCAGsPublishedRatios checks the maths against pairs
// whose ratios WCAG's understanding documents and the usual checkers
// (WebAIM, axe) give.
func TestContrastMatchesWCAGsPublishedRatios(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		want       string
	}{
		{"black on white is the maximum", "#000000", "#ffffff", "21:1"},
		{"a colour on itself is the minimum", "#1f5fbf", "#1f5fbf", "1:1"},
		{"#777777 on white just misses AA text", "#777777", "#ffffff", "4.48:1"},
		{"#767676 on white is the lightest grey that passes", "#767676", "#fff", "4.54:1"},
		{"yellow on white is nearly invisible", "#ffff00", "#ffffff", "1.07:1"},
		{"pure blue on white", "#0000ff", "#ffffff", "8.59:1"},
		{"the order of the colours does not matter", "#ffffff", "#777777", "4.48:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatRatio(Contrast(mustColor(t, tc.a), mustColor(t, tc.b)), 0); got != tc.want {
				t.Errorf("contrast of %s and %s = %s, want %s", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestARatioBelowTheNeedIsNeverRoundedUpToIt(t *testing.T) {
	for _, tc := range []struct {
		name       string
		r, need    float64
		wantFormat string
	}{
		{"a ratio just under 4.5 shows as 4.49", 4.4992, 4.5, "4.49:1"},
		{"a ratio just under 4.5 without a need rounds", 4.4992, 0, "4.5:1"},
		{"a passing ratio rounds as usual", 4.5349, 4.5, "4.53:1"},
		{"a ratio far below rounds as usual", 2.8349, 4.5, "2.83:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatRatio(tc.r, tc.need); got != tc.wantFormat {
				t.Errorf("FormatRatio(%v, %v) = %s, want %s", tc.r, tc.need, got, tc.wantFormat)
			}
		})
	}
}

func TestParseColorAcceptsHexOnly(t *testing.T) {
	for in, want := range map[string]string{"#fff": "#ffffff", "#1F5FBF": "#1f5fbf", "#0a0": "#00aa00"} {
		if got := mustColor(t, in).String(); got != want {
			t.Errorf("ParseColor(%q) = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "fff", "#ffff", "#gggggg", "red", "#1f5fbf00", "var(--x)"} {
		if _, err := ParseColor(bad); err == nil {
			t.Errorf("ParseColor(%q) accepted", bad)
		}
	}
}

func TestTheBuiltInStylesheetNamesItsBackgroundsForBothSchemes(t *testing.T) {
	css, err := staticFS.ReadFile("static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ReadPalette(css, nil)
	if err != nil {
		t.Fatalf("the brand colours cannot be checked against gatehouse.css: %v", err)
	}
	if p.Light.Card.Luminance() < 0.5 || p.Dark.Card.Luminance() > 0.1 {
		t.Errorf("light card %s, dark card %s: the schemes are not where the stylesheet's media query puts them", p.Light.Card, p.Dark.Card)
	}
}

func TestReadPaletteFollowsTheCascade(t *testing.T) {
	css := `/* :root { --card: #123456; } in a comment */
:root { --card: #fff; --bg: #eeeeee; --fg: #000; }
@media print { :root { --card: #ff0000; } }
.card { background: var(--card); }
@media (prefers-color-scheme: dark) {
  :root { --card: #161b22; }
  .error { background: #3b1512; }
}
@media (prefers-color-scheme:dark) { :root { --bg: #010101 } }
`
	p, err := ReadPalette([]byte(css), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Palette{Light: Backgrounds{Card: RGB{255, 255, 255}, Page: RGB{0xee, 0xee, 0xee}},
		Dark: Backgrounds{Card: RGB{0x16, 0x1b, 0x22}, Page: RGB{1, 1, 1}}}
	if p != want {
		t.Errorf("palette %+v, want %+v", p, want)
	}

	t.Run("a variable the stylesheet does not set as a colour is an error without a base", func(t *testing.T) {
		if _, err := ReadPalette([]byte(`:root { --card: var(--x); --bg: #fff }`), nil); err == nil || !strings.Contains(err.Error(), "--card") {
			t.Errorf("err = %v, want one naming --card", err)
		}
	})
	t.Run("an override stylesheet keeps the base's values for what it does not set", func(t *testing.T) {
		got, err := ReadPalette([]byte(`body{background:#000} @media (prefers-color-scheme: dark) { :root { --card: #202020 } }`), &want)
		if err != nil {
			t.Fatal(err)
		}
		w := want
		w.Dark.Card = RGB{0x20, 0x20, 0x20}
		if got != w {
			t.Errorf("palette %+v, want %+v", got, w)
		}
	})
}

// builtInPalette is the backgrounds every check below is made against.
func builtInPalette(t *testing.T) Palette {
	t.Helper()
	p, err := pagePalette("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestShadeFindsTheClosestShadeThatReadsAndKeepsTheHue runs Shade over
// colours that stress it: pure yellow (lightest hue), the grey that
// just misses AA, black and white (no hue at all), the default blue and
// a dark navy.
func TestShadeFindsTheClosestShadeThatReadsAndKeepsTheHue(t *testing.T) {
	pal := builtInPalette(t)
	for _, tc := range []struct {
		name, color string
		// Whether the colour must change for text in each scheme.
		lightText, darkText bool
	}{
		{"pure yellow is darkened for light pages and kept for dark ones", "#ffff00", true, false},
		{"#777777 fails on both and is darkened and lightened", "#777777", true, true},
		{"black is kept for light pages and lightened to a grey for dark ones", "#000000", false, true},
		{"white is darkened to a grey for light pages and kept for dark ones", "#ffffff", true, false},
		{"the default blue is kept for light pages and lightened for dark ones", "#1f5fbf", false, true},
		{"a dark navy is kept for light pages and lightened for dark ones", "#001f5f", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustColor(t, tc.color)
			for _, scheme := range []struct {
				name    string
				backs   Backgrounds
				changes bool
			}{{"light", pal.Light, tc.lightText}, {"dark", pal.Dark, tc.darkText}} {
				for _, need := range []float64{TextContrast, NonTextContrast} {
					s, ok := Shade(c, need, scheme.backs.list())
					if !ok {
						t.Fatalf("%s at %v: no shade reaches it", scheme.name, need)
					}
					if _, r := worst(s, scheme.backs.list()); r < need {
						t.Errorf("%s at %v: %s has only %s", scheme.name, need, s, FormatRatio(r, need))
					}
					if need == TextContrast && (s != c) != scheme.changes {
						t.Errorf("%s text: %s became %s; want changed = %v", scheme.name, c, s, scheme.changes)
					}
					if s == c {
						continue
					}
					h0, s0, l0 := c.hsl()
					h1, s1, l1 := s.hsl()
					if s0 > 0.05 && (math.Abs(h0-h1) > 0.1 || math.Abs(s0-s1) > 0.1) {
						t.Errorf("%s at %v: %s became %s, another hue or saturation (h %.2f→%.2f, s %.2f→%.2f)", scheme.name, need, c, s, h0, h1, s0, s1)
					}
					// One step back towards the colour no longer reads:
					// the shade is the closest that does.
					back := fromHSL(h0, s0, l1+math.Copysign(0.003, l0-l1))
					if _, r := worst(back, scheme.backs.list()); r >= need && back != s {
						t.Errorf("%s at %v: %s is not the closest shade of %s: %s reads too (%s)", scheme.name, need, s, c, back, FormatRatio(r, 0))
					}
				}
			}
		})
	}
}

var cssVar = regexp.MustCompile(`(--[a-z-]+):(#[0-9a-f]{6})`)

// brandVars reads brand.css into its light and dark custom properties.
func brandVars(t *testing.T, css string) (light, dark map[string]RGB) {
	t.Helper()
	before, after, ok := strings.Cut(css, "@media (prefers-color-scheme: dark)")
	if !ok {
		t.Fatalf("brand.css has no dark scheme:\n%s", css)
	}
	light, dark = map[string]RGB{}, map[string]RGB{}
	for _, m := range cssVar.FindAllStringSubmatch(before, -1) {
		light[m[1]] = mustColor(t, m[2])
	}
	for k, v := range light {
		dark[k] = v
	}
	for _, m := range cssVar.FindAllStringSubmatch(after, -1) {
		dark[m[1]] = mustColor(t, m[2])
	}
	return light, dark
}

func TestBrandCSSServesShadesThatReachAAInBothSchemes(t *testing.T) {
	pal := builtInPalette(t)
	for _, color := range []string{"#ffff00", "#fff59d", "#777777", "#000000", "#ffffff", "#1f5fbf", "#001f5f", "#e07000"} {
		t.Run("brand.css for "+color+" reaches AA in both schemes", func(t *testing.T) {
			ui := config.Default().UI
			ui.PrimaryColor = color
			r, err := NewRenderer(ui)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			r.StaticHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/static/brand.css", nil))
			body, _ := io.ReadAll(rec.Body)
			light, dark := brandVars(t, string(body))
			for _, s := range []struct {
				name  string
				vars  map[string]RGB
				backs Backgrounds
			}{{"light", light, pal.Light}, {"dark", dark, pal.Dark}} {
				if got := s.vars["--primary"].String(); got != color {
					t.Errorf("%s: the button keeps the colour as configured: --primary is %s, want %s", s.name, got, color)
				}
				if r := Contrast(s.vars["--on-primary"], s.vars["--primary"]); r < TextContrast {
					t.Errorf("%s: button text %s on %s has %s", s.name, s.vars["--on-primary"], s.vars["--primary"], FormatRatio(r, TextContrast))
				}
				for _, v := range []struct {
					name string
					need float64
				}{{"--link", TextContrast}, {"--focus", NonTextContrast}} {
					if against, r := worst(s.vars[v.name], s.backs.list()); r < v.need {
						t.Errorf("%s: %s %s on %s has %s", s.name, v.name, s.vars[v.name], against, FormatRatio(r, v.need))
					}
				}
			}
			// Every shade that differs from the colour is told about.
			adjusted := map[string]bool{}
			for _, a := range r.Branding().Adjustments {
				adjusted[a.Used.String()] = true
			}
			for _, vars := range []map[string]RGB{light, dark} {
				for _, name := range []string{"--link", "--focus"} {
					if c := vars[name].String(); c != color && !adjusted[c] {
						t.Errorf("%s is %s, and no adjustment says so", name, c)
					}
				}
			}
		})
	}
}

func TestAFailingColourIsReportedWithItsContrastAndTheShadeUsed(t *testing.T) {
	ui := config.Default().UI
	ui.PrimaryColor = "#ffff00"
	b, err := NewBranding(ui)
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	for _, a := range b.Adjustments {
		if a.Warning {
			warnings = append(warnings, a.String())
		}
	}
	text := strings.Join(warnings, "\n")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`links and secondary buttons in the light colour scheme: #ffff00 has 1(\.\d+)?:1 against #[0-9a-f]{6}, below WCAG AA's 4\.5:1; the pages use #[0-9a-f]{6} \(4\.5\d*:1\) instead`),
		regexp.MustCompile(`focus ring in the light colour scheme: #ffff00 has 1(\.\d+)?:1 .* below WCAG AA's 3:1; the pages use #[0-9a-f]{6} \(3(\.\d+)?:1\)`),
		regexp.MustCompile(`button text in both colour schemes: #ffffff has 1\.07:1 against #ffff00, .* the pages use #000000 \(19\.\d+:1\)`),
	} {
		if !want.MatchString(text) {
			t.Errorf("no warning matching %s in:\n%s", want, text)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("want 3 warnings, got:\n%s", text)
	}

	t.Run("the default colour gets no warning, only a note for dark pages", func(t *testing.T) {
		b, err := NewBranding(config.Default().UI)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range b.Adjustments {
			if a.Warning || a.Scheme != "dark" {
				t.Errorf("unexpected adjustment for the default colour: %s", a)
			}
		}
	})
}

func TestAnOverrideStylesheetsBackgroundsAreTheOnesChecked(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "static"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A dark-only theme: the light scheme's card is dark too.
	css := `:root { --card: #202020; --bg: #101010; }`
	if err := os.WriteFile(filepath.Join(dir, "static", "gatehouse.css"), []byte(css), 0o600); err != nil {
		t.Fatal(err)
	}
	ui := config.Default().UI
	ui.PrimaryColor, ui.OverrideDir = "#001f5f", dir
	b, err := NewBranding(ui)
	if err != nil {
		t.Fatal(err)
	}
	light, _ := brandVars(t, string(b.CSS))
	if against, r := worst(light["--link"], []RGB{{0x20, 0x20, 0x20}, {0x10, 0x10, 0x10}}); r < TextContrast {
		t.Errorf("--link %s on the override's %s has %s", light["--link"], against, FormatRatio(r, TextContrast))
	}
}

// TestThePageStylesheetTakesTheBrandColourOnlyWhereItIsChecked keeps the
// uses of the brand colour in gatehouse.css to the variables brand.css
// computes: text, borders and outlines never use --primary itself.
func TestThePageStylesheetTakesTheBrandColourOnlyWhereItIsChecked(t *testing.T) {
	css, err := staticFS.ReadFile("static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`(?:^|[;{\s])((?:color|border[a-z-]*|outline[a-z-]*|text-decoration[a-z-]*)\s*:[^;}]*var\(--primary\))`)
	for _, m := range bad.FindAllStringSubmatch(string(css), -1) {
		t.Errorf("gatehouse.css uses the unchecked brand colour: %q (use --link or --focus)", m[1])
	}
	if !strings.Contains(string(css), "var(--on-primary)") {
		t.Errorf("the button's text colour is not --on-primary")
	}
}
