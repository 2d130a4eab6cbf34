package web

import (
	"net/url"
	"strings"
)

// IsLocalPath reports whether p may be the target of a redirect that must
// stay on this site (the back= of /lang, a flow's resume address): a path
// that starts with one "/" and that no browser, proxy or URL parser can
// read as another host.
//
// Browsers drop tabs and newlines inside a URL and read a backslash as a
// slash, so "/\t/evil.example" and "/\evil.example" are "//evil.example",
// another host; some servers and proxies decode the path once or twice
// more, so "/%2F/evil.example", "/%09/evil.example" and "/%252F/…" may
// become one too. p is refused when it holds a control character, a
// backslash or anything but ASCII, or when its path, decoded as often as
// it decodes, starts with "//", holds a backslash, a control character or
// a ".." segment. The query (after "?") may hold encoded characters: a
// resume address carries a protocol request.
func IsLocalPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	path := p
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		path = p[:i]
	}
	for {
		if strings.HasPrefix(path, "//") || strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
			return false
		}
		for seg := range strings.SplitSeq(path, "/") {
			if seg == ".." {
				return false
			}
		}
		dec, err := url.PathUnescape(path)
		if err != nil {
			return false
		}
		if dec == path {
			break
		}
		path = dec
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}
