package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// widenable are the directives one response may widen: what a page must
// frame, where its forms may go, and who may frame it. Scripts, styles
// and connections stay Gatehouse's own on every page.
var widenable = []string{"frame-src", "form-action", "frame-ancestors"}

// WidenCSP sets h's Content-Security-Policy to the policy it has
// (DefaultCSP when none) with sources added to directive, for this
// response only; a 'none' there is dropped. Only frame-src, form-action
// and frame-ancestors can be widened, and only by origins
// (scheme://host[:port], as Origin returns them) or 'self', so no caller
// can open a page to a wildcard, a scheme or an inline script. A
// directive the policy lacks is added (it fell back to default-src
// 'none').
func WidenCSP(h http.Header, directive string, sources ...string) error {
	if !slices.Contains(widenable, directive) {
		return fmt.Errorf("web: CSP directive %q cannot be widened", directive)
	}
	for _, s := range sources {
		if s != "'self'" && !isOrigin(s) {
			return fmt.Errorf("web: %q is not an origin", s)
		}
	}
	policy := h.Get("Content-Security-Policy")
	if policy == "" {
		policy = DefaultCSP
	}
	var out []string
	found := false
	for _, d := range strings.Split(policy, ";") {
		fields := strings.Fields(d)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == directive {
			found = true
			fields = slices.DeleteFunc(fields, func(f string) bool { return f == "'none'" })
			for _, s := range sources {
				if !slices.Contains(fields[1:], s) {
					fields = append(fields, s)
				}
			}
			if len(fields) == 1 {
				fields = append(fields, "'none'")
			}
		}
		out = append(out, strings.Join(fields, " "))
	}
	if !found {
		d := append([]string{directive}, sources...)
		if len(sources) == 0 {
			d = append(d, "'none'")
		}
		out = append(out, strings.Join(d, " "))
	}
	h.Set("Content-Security-Policy", strings.Join(out, "; "))
	return nil
}

// Origin returns the origin of an absolute http(s) URL as a CSP source
// (scheme://host[:port], the host in lower case), or false.
func Origin(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", false
	}
	o := u.Scheme + "://" + strings.ToLower(u.Host)
	return o, isOrigin(o)
}

// isOrigin accepts scheme://host[:port] with http or https and a host of
// letters, digits, dots, hyphens (or a bracketed IPv6 address).
func isOrigin(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return false
		}
	}
	if rest == "" {
		return false
	}
	for _, c := range rest {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}
