package browse

import (
	"html"
	"regexp"
)

var (
	inputRe = regexp.MustCompile(`<(?:input|button)\b[^>]*>`)
	attrRe  = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9_-]*)(?:="([^"]*)")?`)
)

// Field returns the attributes of the input or button with id on the last
// page (a bare attribute such as autofocus maps to ""), unescaped; nil
// when the page has none.
func (b *Browser) Field(id string) map[string]string {
	for _, tag := range inputRe.FindAllString(b.Last, -1) {
		attrs := map[string]string{}
		for _, m := range attrRe.FindAllStringSubmatch(tag[1:len(tag)-1], -1)[1:] { // [0] is the element's name
			attrs[m[1]] = html.UnescapeString(m[2])
		}
		if attrs["id"] == id {
			return attrs
		}
	}
	return nil
}
