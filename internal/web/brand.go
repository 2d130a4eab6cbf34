package web

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// WCAG 2.x AA contrast ratios: 4.5:1 for text, 3:1 for the parts of a
// control that are not text, such as a focus ring.
const (
	TextContrast    = 4.5
	NonTextContrast = 3.0
)

// RGB is an sRGB colour.
type RGB struct{ R, G, B uint8 }

// ParseColor reads #rgb or #rrggbb.
func ParseColor(s string) (RGB, error) {
	h, ok := strings.CutPrefix(s, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if !ok || len(h) != 6 {
		return RGB{}, fmt.Errorf("not a colour like #1f5fbf: %q", s)
	}
	v, err := hex.DecodeString(h)
	if err != nil {
		return RGB{}, fmt.Errorf("not a colour like #1f5fbf: %q", s)
	}
	return RGB{v[0], v[1], v[2]}, nil
}

// String is the colour as #rrggbb.
func (c RGB) String() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// Luminance is the colour's WCAG relative luminance, from 0 (black) to 1
// (white).
func (c RGB) Luminance() float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// Contrast is the WCAG contrast ratio of two colours, from 1 to 21; the
// order does not matter.
func Contrast(a, b RGB) float64 {
	la, lb := a.Luminance(), b.Luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// worst returns the background of backs that c contrasts least with, and
// that contrast.
func worst(c RGB, backs []RGB) (RGB, float64) {
	var w RGB
	low := math.Inf(1)
	for _, b := range backs {
		if r := Contrast(c, b); r < low {
			w, low = b, r
		}
	}
	return w, low
}

var (
	black = RGB{0, 0, 0}
	white = RGB{255, 255, 255}
)

// Shade returns c itself when it reaches need against every one of backs;
// otherwise the shade of c's hue and saturation (HSL) closest to c that
// does, darker when the backgrounds are light and lighter when they are
// dark. ok is false when not even black or white reaches need, and the
// extreme is returned.
func Shade(c RGB, need float64, backs []RGB) (shade RGB, ok bool) {
	if _, r := worst(c, backs); r >= need {
		return c, true
	}
	// Go towards whichever end stands out more against the backgrounds.
	_, toBlack := worst(black, backs)
	_, toWhite := worst(white, backs)
	step := -0.001
	if toWhite > toBlack {
		step = 0.001
	}
	h, s, l := c.hsl()
	for l = l + step; l > 0 && l < 1; l += step {
		cand := fromHSL(h, s, l)
		if _, r := worst(cand, backs); r >= need {
			return cand, true
		}
	}
	end := black
	if step > 0 {
		end = white
	}
	_, r := worst(end, backs)
	return end, r >= need
}

// hsl returns hue (0–6, in sixths of the circle), saturation and
// lightness (0–1).
func (c RGB) hsl() (h, s, l float64) {
	r, g, b := float64(c.R)/255, float64(c.G)/255, float64(c.B)/255
	hi, lo := max(r, g, b), min(r, g, b)
	l = (hi + lo) / 2
	d := hi - lo
	if d == 0 {
		return 0, 0, l
	}
	s = d / (1 - math.Abs(2*l-1))
	switch hi {
	case r:
		h = math.Mod((g-b)/d+6, 6)
	case g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	return h, s, l
}

func fromHSL(h, s, l float64) RGB {
	chroma := (1 - math.Abs(2*l-1)) * s
	x := chroma * (1 - math.Abs(math.Mod(h, 2)-1))
	var r, g, b float64
	switch {
	case h < 1:
		r, g = chroma, x
	case h < 2:
		r, g = x, chroma
	case h < 3:
		g, b = chroma, x
	case h < 4:
		g, b = x, chroma
	case h < 5:
		r, b = x, chroma
	default:
		r, b = chroma, x
	}
	m := l - chroma/2
	to8 := func(v float64) uint8 { return uint8(math.Round(math.Min(1, math.Max(0, v+m)) * 255)) }
	return RGB{to8(r), to8(g), to8(b)}
}

// Backgrounds are the page's two backgrounds in one colour scheme, as
// gatehouse.css sets them: --card behind the form and --bg around it
// (the footer's links sit on it).
type Backgrounds struct{ Card, Page RGB }

func (b Backgrounds) list() []RGB { return []RGB{b.Card, b.Page} }

// Palette is the light and dark backgrounds of the page stylesheet.
type Palette struct{ Light, Dark Backgrounds }

// ReadPalette reads --card and --bg from the :root rules of a stylesheet:
// those outside any at-rule are the light scheme's, those inside
// @media (prefers-color-scheme: dark) override them for the dark one.
// Later rules win, as in the browser. A variable the stylesheet does not
// set as a #rrggbb colour keeps its value in base; with a zero base that
// is an error.
func ReadPalette(css []byte, base *Palette) (Palette, error) {
	light, dark := map[string]string{}, map[string]string{}
	for _, r := range rootRules(css) {
		into := light
		if r.dark {
			into = dark
		} else if r.atRule != "" {
			continue
		}
		for _, m := range declaration.FindAllStringSubmatch(r.body, -1) {
			into[m[1]] = strings.TrimSpace(m[2])
		}
	}
	var errs []string
	get := func(vars map[string]string, name, scheme string, fallback RGB) RGB {
		v, ok := vars[name]
		if !ok {
			v = light[name]
		}
		c, err := ParseColor(v)
		if err != nil {
			if base != nil {
				return fallback
			}
			errs = append(errs, fmt.Sprintf("%s in the %s scheme is %q, not a #rrggbb colour", name, scheme, v))
		}
		return c
	}
	var b Palette
	if base != nil {
		b = *base
	}
	p := Palette{
		Light: Backgrounds{Card: get(light, "--card", "light", b.Light.Card), Page: get(light, "--bg", "light", b.Light.Page)},
		Dark:  Backgrounds{Card: get(dark, "--card", "dark", b.Dark.Card), Page: get(dark, "--bg", "dark", b.Dark.Page)},
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("page stylesheet: %s", strings.Join(errs, "; "))
	}
	return p, nil
}

var (
	declaration = regexp.MustCompile(`(--[a-z-]+)\s*:\s*([^;}]+)`)
	comment     = regexp.MustCompile(`(?s)/\*.*?\*/`)
	darkScheme  = regexp.MustCompile(`prefers-color-scheme\s*:\s*dark`)
)

type cssRule struct {
	atRule string // the enclosing at-rule's prelude, "" at the top
	dark   bool
	body   string
}

// rootRules returns the :root rules of css with the at-rule each is in:
// enough CSS for a stylesheet's custom properties, not a parser.
func rootRules(css []byte) []cssRule {
	s := comment.ReplaceAllString(string(css), "")
	var out []cssRule
	var stack []string // preludes of the open blocks
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			prelude := strings.TrimSpace(s[start:i])
			if i := strings.LastIndexAny(prelude, ";}"); i >= 0 {
				prelude = strings.TrimSpace(prelude[i+1:])
			}
			if prelude == ":root" {
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return out
				}
				r := cssRule{body: s[i+1 : i+end]}
				for _, p := range stack {
					if strings.HasPrefix(p, "@") {
						r.atRule = p
						r.dark = r.dark || darkScheme.MatchString(p)
					}
				}
				out = append(out, r)
				i += end
				start = i + 1
				continue
			}
			stack = append(stack, prelude)
			start = i + 1
		case '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			start = i + 1
		case ';':
			if len(stack) == 0 {
				start = i + 1 // @import and friends
			}
		}
	}
	return out
}

// ColorAdjustment is one place where the configured ui.primary_color
// does not reach WCAG AA contrast, and what the pages use instead.
type ColorAdjustment struct {
	Use       string  // what the colour is used for, e.g. "links and secondary buttons"
	Scheme    string  // "light" or "dark"; "" for both
	Color     RGB     // the colour as it would have been
	Against   RGB     // the background (or, for button text, the button) it fails against
	Ratio     float64 // the contrast it has
	Need      float64 // the contrast required
	Used      RGB     // what the pages use instead
	UsedRatio float64 // the contrast that has (against the worst background)
	// Warning is false for the dark scheme's shades: no colour reaches
	// 4.5:1 on both a white and a dark card, so dark pages always use a
	// lighter shade of a colour made for white ones; that is worth a
	// note, not a warning.
	Warning bool
}

// String says what was adjusted, for `gatehouse config check`.
func (a ColorAdjustment) String() string {
	where := "in both colour schemes"
	if a.Scheme != "" {
		where = "in the " + a.Scheme + " colour scheme"
	}
	return fmt.Sprintf("ui.primary_color: %s %s: %s has %s against %s, below WCAG AA's %s; the pages use %s (%s) instead",
		a.Use, where, a.Color, FormatRatio(a.Ratio, a.Need), a.Against, FormatRatio(a.Need, 0), a.Used, FormatRatio(a.UsedRatio, 0))
}

// LogAttrs are the adjustment as log/slog key-value pairs.
func (a ColorAdjustment) LogAttrs() []any {
	scheme := a.Scheme
	if scheme == "" {
		scheme = "both"
	}
	return []any{"use", a.Use, "scheme", scheme, "color", a.Color.String(), "against", a.Against.String(),
		"contrast", FormatRatio(a.Ratio, a.Need), "need", FormatRatio(a.Need, 0), "used", a.Used.String(),
		"used_contrast", FormatRatio(a.UsedRatio, 0)}
}

// FormatRatio writes a contrast ratio as WCAG does, to two decimals:
// 4.48:1. A ratio below need is never rounded up to need (4.499 is
// 4.49:1, not 4.5:1).
func FormatRatio(r, need float64) string {
	v := math.Round(r*100) / 100
	if r < need && v >= need {
		v = math.Floor(r*100) / 100
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + ":1"
}

// Branding is brand.css, the stylesheet that carries ui.primary_color,
// and the adjustments made to keep it readable.
type Branding struct {
	CSS         []byte
	Adjustments []ColorAdjustment
}

// NewBranding works out the colours the pages use for ui.primary_color
// against the backgrounds of the page stylesheet (the override
// directory's gatehouse.css when it has one, else the built-in):
//
//   - --primary, the primary button's background: the colour as
//     configured, in both schemes;
//   - --on-primary, the button's text: white, or black when white does not
//     reach 4.5:1 on the colour;
//   - --link, links and the secondary buttons' text and border:
//     the colour, or its closest shade that reaches 4.5:1 against both
//     backgrounds of each scheme;
//   - --focus, the focus ring: likewise at 3:1.
//
// Every shade that differs from the colour is listed in Adjustments; those
// of the light scheme and the button's text are warnings.
func NewBranding(ui config.UI) (Branding, error) {
	primary, err := ParseColor(ui.PrimaryColor)
	if err != nil {
		return Branding{}, fmt.Errorf("ui.primary_color: %w", err)
	}
	pal, err := pagePalette(ui.OverrideDir)
	if err != nil {
		return Branding{}, err
	}
	var b Branding
	onPrimary := white
	if r := Contrast(white, primary); r < TextContrast {
		onPrimary = black
		b.Adjustments = append(b.Adjustments, ColorAdjustment{Use: "button text", Color: white, Against: primary,
			Ratio: r, Need: TextContrast, Used: black, UsedRatio: Contrast(black, primary), Warning: true})
	}
	shade := func(use, scheme string, backs Backgrounds, need float64) RGB {
		s, _ := Shade(primary, need, backs.list())
		if s != primary {
			against, r := worst(primary, backs.list())
			_, used := worst(s, backs.list())
			b.Adjustments = append(b.Adjustments, ColorAdjustment{Use: use, Scheme: scheme, Color: primary, Against: against,
				Ratio: r, Need: need, Used: s, UsedRatio: used, Warning: scheme == "light"})
		}
		return s
	}
	const text, focus = "links and secondary buttons", "focus ring"
	lightText, lightFocus := shade(text, "light", pal.Light, TextContrast), shade(focus, "light", pal.Light, NonTextContrast)
	darkText, darkFocus := shade(text, "dark", pal.Dark, TextContrast), shade(focus, "dark", pal.Dark, NonTextContrast)
	var css bytes.Buffer
	fmt.Fprintf(&css, ":root{--primary:%s;--on-primary:%s;--link:%s;--focus:%s}\n", primary, onPrimary, lightText, lightFocus)
	fmt.Fprintf(&css, "@media (prefers-color-scheme: dark){:root{--link:%s;--focus:%s}}\n", darkText, darkFocus)
	b.CSS = css.Bytes()
	return b, nil
}

// pagePalette reads the backgrounds of the stylesheet the pages load:
// the override directory's gatehouse.css when it has one, for what it
// sets, else the built-in.
func pagePalette(overrideDir string) (Palette, error) {
	css, err := staticFS.ReadFile("static/gatehouse.css")
	if err != nil {
		return Palette{}, err
	}
	p, err := ReadPalette(css, nil)
	if err != nil || overrideDir == "" {
		return p, err
	}
	if css, err := os.ReadFile(filepath.Join(overrideDir, "static", "gatehouse.css")); err == nil { // #nosec G304 -- operator's directory.
		return ReadPalette(css, &p)
	}
	return p, nil
}
