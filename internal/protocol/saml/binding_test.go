package saml

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
)

// deflateRaw compresses data as the Redirect binding does.
func deflateRaw(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInflatingStopsAtTheCap(t *testing.T) {
	for _, c := range []struct {
		name string
		size int
		want error
	}{
		{"a message of exactly the cap inflates", MaxMessageBytes, nil},
		{"a message one byte over the cap is refused", MaxMessageBytes + 1, ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := inflate(deflateRaw(t, bytes.Repeat([]byte("a"), c.size)), MaxMessageBytes)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if c.want == nil && len(got) != c.size {
				t.Fatalf("inflated %d bytes, want %d", len(got), c.size)
			}
		})
	}
}

// TestADeflateBombIsRefusedWithoutInflatingIt sends 64 MiB of zeros
// deflated (about 64 KiB): reading it must allocate a small multiple of
// the cap, not the bomb.
func TestADeflateBombIsRefusedWithoutInflatingIt(t *testing.T) {
	const bomb = 64 << 20
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for range bomb / len(zeros) {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := getReq(ParamRequest + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadMessage(r, ParamRequest)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
	t.Logf("allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 16*MaxMessageBytes {
		t.Fatalf("reading the bomb allocated %d bytes; the cap is %d", allocated, MaxMessageBytes)
	}
}

func TestOversizedMessagesAreRefused(t *testing.T) {
	msg := []byte(inMsg{Issuer: inWikiID}.xml(""))
	long := strings.Repeat("r", MaxRelayStateBytes+1)
	justRight := strings.Repeat("r", MaxRelayStateBytes)
	huge := append([]byte(inMsg{Issuer: inWikiID}.xml("")[:40]), bytes.Repeat([]byte(" "), MaxMessageBytes)...)
	for _, c := range []struct {
		name string
		req  func(t *testing.T) *http.Request
		want error
	}{
		{"a RelayState over the limit is refused over Redirect", func(t *testing.T) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, msg, &long, nil))
		}, ErrTooLarge},
		{"a RelayState over the limit is refused over POST", func(t *testing.T) *http.Request {
			return postReq(ParamRequest, msg, &long)
		}, ErrTooLarge},
		{"a RelayState at the limit is accepted over Redirect", func(t *testing.T) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, msg, &justRight, nil))
		}, nil},
		{"a RelayState at the limit is accepted over POST", func(t *testing.T) *http.Request {
			return postReq(ParamRequest, msg, &justRight)
		}, nil},
		{"a POST message over the cap is refused", func(t *testing.T) *http.Request {
			return postReq(ParamRequest, huge, nil)
		}, ErrTooLarge},
		{"a POST body over the cap is refused before it is parsed", func(t *testing.T) *http.Request {
			body := "RelayState=x&" + ParamRequest + "=" + strings.Repeat("A", MaxFormBytes)
			r := httptest.NewRequest(http.MethodPost, inSSOURL, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, ErrTooLarge},
		{"a Redirect query over the cap is refused", func(t *testing.T) *http.Request {
			return getReq(ParamRequest + "=" + strings.Repeat("A", MaxFormBytes))
		}, ErrTooLarge},
		{"a message of thousands of tiny elements is refused", func(t *testing.T) *http.Request {
			x := strings.Replace(inMsg{Issuer: inWikiID}.xml(""), "</samlp:AuthnRequest>", strings.Repeat("<a/>", maxMarkup)+"</samlp:AuthnRequest>", 1)
			return postReq(ParamRequest, []byte(x), nil)
		}, ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := ReadMessage(c.req(t), ParamRequest)
			t.Logf("error: %v", err)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if c.want == nil && m.RelayState != justRight {
				t.Fatal("RelayState changed")
			}
		})
	}
}

func TestDTDsAreRefused(t *testing.T) {
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>`
	plain := inMsg{Issuer: inWikiID}.xml("")
	for _, c := range []struct{ name, doc string }{
		{"a billion laughs", laughs + strings.Replace(plain, inWikiID, "&lol3;", 1)},
		{"an external entity", `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + strings.Replace(plain, inWikiID, "&x;", 1)},
		{"a lower-case doctype", `<!doctype r>` + plain},
		{"a DOCTYPE after a comment", `<!-- c --><!DOCTYPE r>` + plain},
		{"an ENTITY declaration inside the message", strings.Replace(plain, "<saml:Issuer>", `<!ENTITY x "y"><saml:Issuer>`, 1)},
	} {
		for _, b := range []struct {
			name string
			req  func(t *testing.T, doc []byte) *http.Request
		}{
			{"over Redirect", func(t *testing.T, doc []byte) *http.Request {
				return getReq(redirectQuery(t, ParamRequest, doc, nil, nil))
			}},
			{"over POST", func(t *testing.T, doc []byte) *http.Request { return postReq(ParamRequest, doc, nil) }},
		} {
			t.Run(c.name+" is refused "+b.name, func(t *testing.T) {
				_, err := ReadMessage(b.req(t, []byte(c.doc)), ParamRequest)
				t.Logf("error: %v", err)
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v, want ErrMalformed", err)
				}
			})
		}
	}
	t.Run("a Directive token is refused even where the raw check would miss it", func(t *testing.T) {
		// encoding/xml reads "<!NOTATION" as a directive; the parsed
		// tokens are checked too.
		if _, err := parseMessageXML([]byte(`<!NOTATION n SYSTEM "x">` + plain)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v, want ErrMalformed", err)
		}
	})
}

func TestMessagesAreParsedStrictly(t *testing.T) {
	f := newInFixture(t)
	plain := inMsg{Issuer: inWikiID}.xml("")
	deep := strings.Repeat("<x>", maxDepth) + strings.Repeat("</x>", maxDepth)
	for _, c := range []struct{ name, doc string }{
		{"a processing instruction", strings.Replace(plain, "<saml:Issuer>", "<?php x?><saml:Issuer>", 1)},
		{"a processing instruction before the message", `<?xml-stylesheet href="x"?>` + plain},
		{"two root elements", plain + plain},
		{"text after the message", plain + "x"},
		{"elements nested too deep", strings.Replace(plain, "</samlp:AuthnRequest>", deep+"</samlp:AuthnRequest>", 1)},
		{"an encoding other than UTF-8", `<?xml version="1.0" encoding="ISO-8859-1"?>` + plain},
		{"a duplicate attribute", strings.Replace(plain, `Version="2.0"`, `Version="2.0" Version="2.0"`, 1)},
		{"an attribute repeated in another namespace", strings.Replace(plain, `Version="2.0"`, `Version="2.0" xmlns:v="urn:v" v:Version="3"`, 1)},
		{"an unclosed element", strings.TrimSuffix(plain, "</samlp:AuthnRequest>")},
		{"markup inside the Issuer", strings.Replace(plain, inWikiID, inWikiID+"<b/>", 1)},
		{"nothing", ""},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := f.p.AuthnRequest(t.Context(), postReq(ParamRequest, []byte(c.doc), nil))
			t.Logf("error: %v", err)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
	for _, c := range []struct{ name, query string }{
		{"a Redirect message that is not base64", ParamRequest + "=%%%"},
		{"a Redirect message that is not DEFLATE", ParamRequest + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("<x/>")))},
		{"a Redirect message sent twice", redirectQuery(t, ParamRequest, []byte(plain), nil, nil) + "&" + redirectQuery(t, ParamRequest, []byte(plain), nil, nil)},
		{"a Redirect message with another SAMLEncoding", redirectQuery(t, ParamRequest, []byte(plain), nil, nil) + "&SAMLEncoding=urn:x"},
		{"a Redirect query without the message", "RelayState=x"},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := ReadMessage(getReq(c.query), ParamRequest)
			t.Logf("error: %v", err)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
	t.Run("a PUT is neither binding", func(t *testing.T) {
		if _, err := ReadMessage(httptest.NewRequest(http.MethodPut, inSSOURL, nil), ParamRequest); !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v, want ErrMalformed", err)
		}
	})
}

func TestABase64MessageWithLineBreaksIsRead(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(inMsg{Issuer: inWikiID}.xml("")))
	var wrapped strings.Builder
	for i := 0; i < len(b64); i += 76 {
		wrapped.WriteString(b64[i:min(i+76, len(b64))] + "\r\n")
	}
	r := httptest.NewRequest(http.MethodPost, inSSOURL, strings.NewReader(url.Values{ParamRequest: {wrapped.String()}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	m, err := ReadMessage(r, ParamRequest)
	if err != nil || m.Issuer() != inWikiID {
		t.Fatalf("got %v", err)
	}
}

func TestMessageParamTellsRequestsFromResponses(t *testing.T) {
	msg := []byte(inMsg{Issuer: inWikiID}.xml(""))
	for _, c := range []struct {
		name string
		req  func(t *testing.T) *http.Request
		want string
		err  error
	}{
		{"a Redirect request", func(t *testing.T) *http.Request { return getReq(redirectQuery(t, ParamRequest, msg, nil, nil)) }, ParamRequest, nil},
		{"a Redirect response", func(t *testing.T) *http.Request { return getReq(redirectQuery(t, ParamResponse, msg, nil, nil)) }, ParamResponse, nil},
		{"a POST request", func(t *testing.T) *http.Request { return postReq(ParamRequest, msg, nil) }, ParamRequest, nil},
		{"a POST response", func(t *testing.T) *http.Request { return postReq(ParamResponse, msg, nil) }, ParamResponse, nil},
		{"both", func(t *testing.T) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, msg, nil, nil) + "&" + redirectQuery(t, ParamResponse, msg, nil, nil))
		}, "", ErrMalformed},
		{"neither", func(t *testing.T) *http.Request { return getReq("RelayState=x") }, "", ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.req(t)
			got, err := MessageParam(r)
			if got != c.want || !errors.Is(err, c.err) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, c.want, c.err)
			}
			if err == nil {
				if _, err := ReadMessage(r, got); err != nil {
					t.Fatalf("ReadMessage after MessageParam: %v", err)
				}
			}
		})
	}
}
