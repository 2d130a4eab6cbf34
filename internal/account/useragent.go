package account

import "strings"

// uaRule names what a user agent holding any of its marks is.
type uaRule struct {
	marks []string
	name  string
}

// browsers and systems are tried in order: Edge and Opera also say
// "Chrome", Chrome also says "Safari", Android also says "Linux".
var (
	browsers = []uaRule{
		{[]string{"Edg/", "EdgA/", "EdgiOS/"}, "Edge"},
		{[]string{"OPR/", "Opera"}, "Opera"},
		{[]string{"SamsungBrowser/"}, "Samsung Internet"},
		{[]string{"Vivaldi/"}, "Vivaldi"},
		{[]string{"Firefox/", "FxiOS/"}, "Firefox"},
		{[]string{"Chromium/"}, "Chromium"},
		{[]string{"Chrome/", "CriOS/"}, "Chrome"},
		{[]string{"Version/"}, "Safari"}, // with "Safari/"; checked below
		{[]string{"Trident/", "MSIE "}, "Internet Explorer"},
	}
	systems = []uaRule{
		{[]string{"Windows"}, "Windows"},
		{[]string{"iPhone", "iPod"}, "iOS"},
		{[]string{"iPad"}, "iPadOS"},
		{[]string{"Android"}, "Android"},
		{[]string{"CrOS"}, "ChromeOS"},
		{[]string{"Macintosh", "Mac OS X"}, "macOS"},
		{[]string{"Linux"}, "Linux"},
	}
)

// userAgent names the browser and the system a User-Agent header says,
// as people call them ("Firefox", "Windows"); "" for what it does not
// tell.
func userAgent(ua string) (browser, system string) {
	for _, r := range browsers {
		if r.matches(ua) && (r.name != "Safari" || strings.Contains(ua, "Safari/")) {
			browser = r.name
			break
		}
	}
	for _, r := range systems {
		if r.matches(ua) {
			system = r.name
			break
		}
	}
	return browser, system
}

func (r uaRule) matches(ua string) bool {
	for _, m := range r.marks {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}
