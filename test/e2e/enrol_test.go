package e2e

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// catalog is the message catalog the pages are rendered from: tests
// compare what the browser shows with it instead of copying its texts.
func catalog(t *testing.T) *web.Catalog {
	t.Helper()
	c, err := web.LoadCatalog("en")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// toEnrolment signs a new AD user in with the password; the demo's policy
// requires a second factor they do not have, so the browser lands on the
// enrolment step. It returns the user's name.
func toEnrolment(t *testing.T, b *Browser, base, password string) string {
	t.Helper()
	name := adUser(t, password)
	signInWithPassword(b, base, name, password)
	return name
}

// The enrolment chooser's links to the authenticator app and to passkeys.
const (
	chooseTOTP    = `ul.choices a[href$="method=totp"]`
	choosePasskey = `ul.choices a[href$="method=webauthn"]`
)

// chooseMethod follows the chooser's link to method and waits for its page.
func chooseMethod(b *Browser, method string) {
	b.Do(chromedp.WaitVisible(chromedp.CSS(`ul.choices a[href$="method=`+method+`"]`)),
		chromedp.Click(chromedp.CSS(`ul.choices a[href$="method=`+method+`"]`)))
	switch method {
	case "totp":
		b.Do(chromedp.WaitVisible(chromedp.CSS(`p.secret`)))
	case "webauthn":
		b.Do(chromedp.WaitVisible(chromedp.ID("webauthn-start")))
	}
}

// box is an element's border box in CSS pixels.
type box struct{ Left, Top, Width, Height float64 }

func (b *Browser) boxes(css string) []box {
	b.t.Helper()
	return Run(b, chromedp.Evaluate[[]box](`Array.from(document.querySelectorAll(`+strconv.Quote(css)+`), e => {
		const r = e.getBoundingClientRect(); return {Left: r.left, Top: r.top, Width: r.width, Height: r.height}; })`))
}

// viewport emulates a window width CSS pixels wide; phone adds touch (a
// coarse pointer, as on a phone) to a mobile viewport.
func (b *Browser) viewport(width int64, phone bool) {
	b.t.Helper()
	ctx := b.Context()
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: width, Height: 900, DeviceScaleFactor: 1, Mobile: phone}); err != nil {
		b.t.Fatalf("Emulation.setDeviceMetricsOverride: %v", err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: phone, MaxTouchPoints: 5}); err != nil {
		b.t.Fatalf("Emulation.setTouchEmulationEnabled: %v", err)
	}
}

// allowClipboard lets the pages of base read and write the clipboard
// without asking, as a user who allowed it would.
func (b *Browser) allowClipboard(base string) {
	b.t.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(b.Context(), browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    browser.PermissionSettingGranted, Origin: base}); err != nil {
			b.t.Fatalf("Browser.setPermission %s: %v", name, err)
		}
	}
}

// clipboard returns the clipboard's text.
func (b *Browser) clipboard() string {
	b.t.Helper()
	return Run(b, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
}

func TestInChromiumTheEnrolmentChooserNamesBothMethodsAsEqualsAndLeadsToEither(t *testing.T) {
	base := gatehouse(t)
	c := catalog(t)
	b := NewBrowser(t)
	auth := b.AddVirtualAuthenticator(nil)
	toEnrolment(t, b, base, "E2e!Passw0rd-choose")

	b.Do(chromedp.WaitVisible(chromedp.CSS(`ul.choices`)))
	if n := len(b.boxes(`#webauthn-form, #code`)); n != 0 {
		t.Fatalf("the first enrolment page already shows a method (%d forms)", n)
	}
	for _, m := range []string{"webauthn", "totp"} {
		name := b.Text(`ul.choices a[href$="method=` + m + `"]`)
		desc := b.Text(`li.choice:has(a[href$="method=` + m + `"]) p`)
		if name != c.T("en", "enrol."+m) || desc != c.T("en", "enrol."+m+"_desc") {
			t.Errorf("the %s choice reads %q / %q", m, name, desc)
		}
	}
	for _, width := range []int64{1280, 390} {
		b.viewport(width, width < 500)
		// Stacked, each as wide as the other and aligned: neither is the
		// "real" choice with the other an afterthought.
		cards := b.boxes(`li.choice`)
		if len(cards) != 2 || cards[0].Width != cards[1].Width || cards[0].Left != cards[1].Left {
			t.Errorf("at %d px the choices are %+v: not two of the same width, aligned", width, cards)
		}
	}
	b.viewport(1280, false)

	t.Log("the whole card is the link: a click on its description chooses the passkey")
	b.Do(chromedp.Click(chromedp.CSS(`li.choice:has(a[href$="method=webauthn"]) p`)), chromedp.WaitVisible(chromedp.ID("webauthn-start")))
	t.Log("back to the choice, then the authenticator app, then back again")
	back := chromedp.CSS(`a[href$="choose=1"]`)
	b.Do(chromedp.Click(back), chromedp.WaitVisible(chromedp.CSS(`ul.choices`)))
	chooseMethod(b, "totp")
	if got := b.Text(`a[href$="choose=1"]`); got != c.T("en", "enrol.other") {
		t.Errorf("the way back reads %q", got)
	}
	b.Do(chromedp.Click(back), chromedp.WaitVisible(chromedp.CSS(`ul.choices`)))

	t.Log("the passkey is created and the recovery codes follow")
	chooseMethod(b, "webauthn")
	b.Do(chromedp.Click(chromedp.ID("webauthn-start")), chromedp.WaitVisible(chromedp.CSS(`ol.codes`)))
	if n := len(b.VirtualCredentials(auth)); n != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", n)
	}
	b.CheckProblems()
}

func TestInChromiumTheAuthenticatorAppPageOffersTheKeyToOpenCopyAndType(t *testing.T) {
	base := gatehouse(t)
	c := catalog(t)
	b := NewBrowser(t)
	b.allowClipboard(base)
	name := toEnrolment(t, b, base, "E2e!Passw0rd-app")
	chooseMethod(b, "totp")

	inputmode, ac := b.Attr(`#code`, "inputmode"), b.Attr(`#code`, "autocomplete")
	focused := Run(b, chromedp.Evaluate[string](`document.activeElement.id`))
	if inputmode != "numeric" || ac != "one-time-code" || focused != "code" {
		t.Errorf("the code field: inputmode %q, autocomplete %q, focus on %q", inputmode, ac, focused)
	}

	t.Log("the otpauth:// link holds the same key as the QR code")
	href := b.Attr(`.otp-open a`, "href")
	key, err := otp.NewKeyFromURL(href)
	if err != nil {
		t.Fatalf("the link %q does not parse: %v", href, err)
	}
	if key.Type() != "totp" || !strings.HasPrefix(key.AccountName(), name+"@") || key.Issuer() == "" {
		t.Errorf("the link's key is %s, want a TOTP key for %s", key, name)
	}
	src := b.Attr(`img.qr`, "src")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("the QR code's src %.40q is no base64 PNG: %v", src, err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("the QR code on the page does not decode: %v", err)
	}
	if res.GetText() != href {
		t.Errorf("the QR code holds %q, the link %q", res.GetText(), href)
	}
	secret := key.Secret()
	if shown := strings.ReplaceAll(b.Text(`p.secret`), " ", ""); shown != secret {
		t.Errorf("the key shown is %q, the link's %q", shown, secret)
	}

	t.Log("the link is for phones: hidden with a mouse, shown to a touch screen")
	if n := len(b.boxes(`.otp-open a`)); n != 1 || b.boxes(`.otp-open a`)[0].Width != 0 {
		t.Errorf("with a mouse the link is shown: %+v", b.boxes(`.otp-open a`))
	}
	b.viewport(390, true)
	if got := b.Text(`.otp-open a`); got != c.T("en", "enrol.totp_open") {
		t.Errorf("on a phone the link reads %q", got)
	}

	t.Log("at 390 px the key wraps between its groups of four, never inside one")
	groups := Run(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('p.secret span'), s => s.textContent)`))
	if strings.Join(groups, "") != secret {
		t.Errorf("the groups %q are not the key %q", groups, secret)
	}
	lines := map[float64]bool{}
	for i, g := range b.boxes(`p.secret span`) {
		if len(groups[i]) > 4 {
			t.Errorf("group %q is longer than four", groups[i])
		}
		lines[g.Top] = true
	}
	broken := Run(b, chromedp.Evaluate[int](`Array.from(document.querySelectorAll('p.secret span')).filter(s => s.getClientRects().length !== 1).length`))
	if broken != 0 || len(lines) < 2 {
		t.Errorf("at 390 px %d groups are broken across lines; the key takes %d lines (want it to wrap between groups)", broken, len(lines))
	}

	t.Log("the copy button puts the key, without spaces, on the clipboard and says so")
	b.Do(chromedp.Click(chromedp.CSS(`button.copy-key`)), chromedp.WaitVisible(chromedp.CSS(`#totp-key-status:not(:empty)`)))
	if got := b.Text(`#totp-key-status`); got != c.T("en", "copy.copied") {
		t.Errorf("the status says %q", got)
	}
	if got := b.clipboard(); got != secret {
		t.Errorf("the clipboard holds %q, want the key %q", got, secret)
	}
	if b.Attr(`#totp-key-status`, "role") != "status" {
		t.Errorf("the copy status is not a live region")
	}

	code, _ := totp.GenerateCode(secret, time.Now())
	b.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS(`ol.codes`)))
	b.CheckProblems()
}

func TestInChromiumRecoveryCodesCanBeCopiedDownloadedAndPrintedAlone(t *testing.T) {
	base := gatehouse(t)
	c := catalog(t)
	b := NewBrowser(t)
	b.allowClipboard(base)
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(b.Context(), browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("Browser.setDownloadBehavior: %v", err)
	}
	toEnrolment(t, b, base, "E2e!Passw0rd-codes")
	chooseMethod(b, "totp")
	secret := strings.ReplaceAll(b.Text("p.secret"), " ", "")
	code, _ := totp.GenerateCode(secret, time.Now())
	b.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS(`ol.codes`)))
	codes := strings.Fields(b.Text("ol.codes"))
	if len(codes) != 10 {
		t.Fatalf("codes shown: %q", codes)
	}
	org := b.Text(`header .brand`)

	t.Log("copy all")
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-copy-list]`)), chromedp.Click(chromedp.CSS(`[data-copy-list]`)),
		chromedp.WaitVisible(chromedp.CSS(`#codes-status:not(:empty)`)))
	if got := b.Text(`#codes-status`); got != c.T("en", "copy.copied") {
		t.Errorf("the status says %q", got)
	}
	if got := strings.Split(b.clipboard(), "\n"); !slices.Equal(got, codes) {
		t.Errorf("the clipboard holds %q, want the codes %q", got, codes)
	}

	t.Log("download: a text file of exactly the codes, made in the browser under the page's CSP")
	b.Do(chromedp.Click(chromedp.CSS(`[data-download-list]`)))
	want := filepath.Join(downloads, c.T("en", "recovery.file_name", "org", org)+".txt")
	var file []byte
	for deadline := time.Now().Add(DefaultTimeout); ; {
		var err error
		if file, err = os.ReadFile(want); err == nil && len(file) > 0 {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("no download %s; the folder has %v", want, entries)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := strings.Fields(string(file)); !slices.Equal(got, codes) || strings.Count(string(file), "\n") != len(codes) {
		t.Errorf("the downloaded file holds %q, want the %d codes one a line", file, len(codes))
	}

	t.Log("printed, the page shows only the codes under the organisation's name and the date")
	if _, err := chromedp.Call(b.Context(), emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatalf("Emulation.setEmulatedMedia: %v", err)
	}
	printed := strings.Fields(Run(b, chromedp.Evaluate[string](`document.body.innerText`)))
	head := strings.Fields(c.T("en", "recovery.print_title", "org", org))
	year := strconv.Itoa(time.Now().Year())
	if len(printed) < len(head)+len(codes) || !slices.Equal(printed[:len(head)], head) ||
		!slices.Equal(printed[len(printed)-len(codes):], codes) {
		t.Fatalf("the printout reads %q, want %q, the date, then the codes", printed, head)
	}
	date := strings.Join(printed[len(head):len(printed)-len(codes)], " ")
	if !strings.Contains(date, year) || !strings.HasPrefix(date, strings.Fields(c.T("en", "recovery.print_date", "date", ""))[0]) {
		t.Errorf("the printout's date line reads %q", date)
	}
	if _, err := chromedp.Call(b.Context(), emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}
	if got := Run(b, chromedp.Evaluate[string](`document.body.innerText`)); !strings.Contains(got, c.T("en", "recovery.continue")) {
		t.Errorf("on screen the page lost its button: %q", got)
	}

	b.Do(chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`a.button[href="/account"]`)))
	b.CheckProblems()
}

func TestInChromiumAFailedPasskeyIsExplainedInThePagesLanguage(t *testing.T) {
	base := gatehouse(t)
	c := catalog(t)
	b := NewBrowser(t)
	auth := b.AddVirtualAuthenticator(nil)
	b.SetUserVerified(auth, false) // the fingerprint is not recognised
	b.Do(chromedp.Navigate(base+"/lang?lang=de&back="+url.QueryEscape("/login")), chromedp.WaitVisible(chromedp.CSS(`html[lang="de"] #login`)))
	want := c.T("de", "passkey.cancelled")

	t.Log("the sign-in page's passkey button")
	b.Do(chromedp.Click(chromedp.ID("webauthn-start")), chromedp.WaitVisible(chromedp.CSS(`#webauthn-form[data-webauthn-state="error"]`)))
	if got := b.Text("#webauthn-error"); got != want {
		t.Errorf("the sign-in page says %q, want %q", got, want)
	}

	t.Log("creating a passkey at enrolment")
	toEnrolment(t, b, base, "E2e!Passw0rd-de")
	chooseMethod(b, "webauthn")
	b.Do(chromedp.Click(chromedp.ID("webauthn-start")), chromedp.WaitVisible(chromedp.CSS(`#webauthn-form[data-webauthn-state="error"]`)))
	if got := b.Text("#webauthn-error"); got != want {
		t.Errorf("the enrolment page says %q, want %q", got, want)
	}
	if n := len(b.VirtualCredentials(auth)); n != 0 {
		t.Errorf("the authenticator holds %d credentials after the failure", n)
	}
}
