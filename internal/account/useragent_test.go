package account

import "testing"

func TestAUserAgentIsNamedInWords(t *testing.T) {
	for _, tc := range []struct{ name, ua, en, de string }{
		{"Firefox on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
			"Firefox on Windows", "Firefox unter Windows"},
		{"Edge, which also says Chrome and Safari", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
			"Edge on Windows", "Edge unter Windows"},
		{"Chrome on Android, which also says Linux", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
			"Chrome on Android", "Chrome unter Android"},
		{"Safari on an iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
			"Safari on iOS", "Safari unter iOS"},
		{"Safari on a Mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
			"Safari on macOS", "Safari unter macOS"},
		{"Chrome on Linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			"Chrome on Linux", "Chrome unter Linux"},
		{"a system without a known browser", "SomeClient/1.0 (Windows NT 10.0)", "Unknown browser on Windows", "Unbekannter Browser unter Windows"},
		{"nothing known", "curl/8.5.0", "Unknown browser", "Unbekannter Browser"},
		{"nothing at all", "", "Unknown browser", "Unbekannter Browser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for lang, want := range map[string]string{"en": tc.en, "de": tc.de} {
				if got := browserLabel(pageIn(t, lang), tc.ua); got != want {
					t.Errorf("%s: %q, want %q", lang, got, want)
				}
			}
		})
	}
}
