package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// emulateScheme makes the tab's pages match prefers-color-scheme: scheme,
// and have focus as a window in front would (headless, :focus never
// matches otherwise).
func emulateScheme(b *Browser, scheme string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	}); err != nil {
		b.t.Fatalf("Emulation.setEmulatedMedia: %v", err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		b.t.Fatalf("Emulation.setFocusEmulationEnabled: %v", err)
	}
}

// signInColours are the computed colours of the sign-in page that carry
// the brand colour, and the backgrounds they sit on.
const signInColours = `(() => {
  const cs = (sel) => getComputedStyle(document.querySelector(sel));
  const login = document.getElementById('login');
  login.focus();
  const logo = document.querySelector('img.logo');
  return {
    buttonText: cs('form button[type=submit]').color,
    button: cs('form button[type=submit]').backgroundColor,
    link: cs('main .links a').color,
    footerLink: cs('footer a').color,
    secondaryText: cs('button.secondary').color,
    secondaryBorder: cs('button.secondary').borderTopColor,
    focus: login.matches(':focus') ? getComputedStyle(login).outlineColor : 'not focused',
    card: cs('main.card').backgroundColor,
    page: getComputedStyle(document.documentElement).backgroundColor,
    logoPlate: logo ? getComputedStyle(logo).backgroundColor : '',
    logoAlt: logo ? logo.alt : '',
    logoLoaded: logo && logo.complete && logo.naturalWidth > 0 ? 'yes' : 'no',
  };
})()`

// cssColour reads a computed colour: rgb(r, g, b), rgba(r, g, b, a) or
// color(srgb r g b / a) (what color-mix() computes to); opaque is false
// for a colour that is not.
func cssColour(t *testing.T, s string) (c web.RGB, opaque bool) {
	t.Helper()
	var a float64
	if n, _ := fmt.Sscanf(s, "rgba(%d, %d, %d, %g)", &c.R, &c.G, &c.B, &a); n == 4 {
		return c, a == 1
	}
	var r, g, b float64
	if n, _ := fmt.Sscanf(s, "color(srgb %g %g %g / %g)", &r, &g, &b, &a); n >= 3 {
		if n == 3 {
			a = 1
		}
		to8 := func(v float64) uint8 { return uint8(math.Round(math.Max(0, math.Min(1, v)) * 255)) }
		return web.RGB{R: to8(r), G: to8(g), B: to8(b)}, a == 1
	}
	if n, _ := fmt.Sscanf(s, "rgb(%d, %d, %d)", &c.R, &c.G, &c.B); n == 3 {
		return c, true
	}
	t.Fatalf("not a computed colour: %q", s)
	return c, false
}

// TestTheBrandColourReadsInBothColourSchemes signs in with a light yellow
// and a dark navy brand colour, each failing one scheme as configured,
// and measures in Chromium what the sign-in page really shows.
func TestTheBrandColourReadsInBothColourSchemes(t *testing.T) {
	logo := filepath.Join(t.TempDir(), "logo.svg")
	if err := os.WriteFile(logo, []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32"><rect width="120" height="32" fill="#001f5f"/></svg>`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, colour := range []string{"#fff59d", "#001f5f"} {
		t.Run("with "+colour, func(t *testing.T) {
			base, _ := demoGatehouse(t, func(c *config.Config) {
				c.UI.Name, c.UI.PrimaryColor, c.UI.LogoFile = "Contoso", colour, logo
			})
			b := NewBrowser(t)
			for _, scheme := range []string{"light", "dark"} {
				emulateScheme(b, scheme)
				b.Do(chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("webauthn-start")))
				got := Run(b, chromedp.Evaluate[map[string]string](signInColours))
				card, _ := cssColour(t, got["card"])
				if dark := card.Luminance() < 0.2; dark != (scheme == "dark") {
					t.Fatalf("%s: the card is %s: the scheme was not emulated", scheme, card)
				}
				if button, _ := cssColour(t, got["button"]); button.String() != colour {
					t.Errorf("%s: the button is %s, not the brand colour %s", scheme, button, colour)
				}
				for _, c := range []struct {
					what, fg, bg string
					need         float64
				}{
					{"the button's text on the button", "buttonText", "button", web.TextContrast},
					{"a link on the card", "link", "card", web.TextContrast},
					{"a footer link on the page", "footerLink", "page", web.TextContrast},
					{"a secondary button's text on the card", "secondaryText", "card", web.TextContrast},
					{"a secondary button's border on the card", "secondaryBorder", "card", web.NonTextContrast},
					{"the focus ring on the card", "focus", "card", web.NonTextContrast},
					{"the focus ring on the page", "focus", "page", web.NonTextContrast},
				} {
					fg, opaque := cssColour(t, got[c.fg])
					bg, _ := cssColour(t, got[c.bg])
					if r := web.Contrast(fg, bg); !opaque || r < c.need {
						t.Errorf("%s: %s: %s on %s has %s, need %s (opaque: %v)", scheme, c.what, got[c.fg], got[c.bg],
							web.FormatRatio(r, c.need), web.FormatRatio(c.need, 0), opaque)
					}
				}
				if got["logoLoaded"] != "yes" || got["logoAlt"] != "Contoso" {
					t.Errorf("%s: the logo (loaded: %s) has the alt text %q, want the brand's name", scheme, got["logoLoaded"], got["logoAlt"])
				}
				plate, opaque := cssColour(t, got["logoPlate"])
				if scheme == "dark" && (!opaque || plate.Luminance() < 0.9) {
					t.Errorf("dark: the logo sits on %s, not a light plate", got["logoPlate"])
				}
				if scheme == "light" && opaque {
					t.Errorf("light: the logo has a plate (%s) on a light page", got["logoPlate"])
				}
			}
		})
	}
}
