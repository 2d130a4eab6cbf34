package wstrust

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRequestsAsEachMSALWritesThemAreUnderstood(t *testing.T) {
	python := msalNET13()
	python.messageIDTag, python.timestampID, python.created, python.expires = "a:MessageID", "_0", "2026-03-01T10:00:00Z", "2026-03-01T10:10:00Z"
	java := python
	java.messageIDTag = "a:messageID"
	goMSAL := msalNET13()
	goMSAL.messageIDTag, goMSAL.created, goMSAL.expires = "a:messageID", "2026-03-01T10:00:00.123Z", "2026-03-01T10:10:00.123Z"
	noID := msalNET13()
	noID.messageIDTag = ""
	soap11 := msalNET2005()
	soap11.soap11, soap11.action = true, ""
	lenientTo := msalNET13()
	lenientTo.to = "http://SSO.corp.example.com/wstrust/13/usernamemixed/"
	sevenDigits := msalNET13()
	sevenDigits.created, sevenDigits.expires = "2026-03-01T10:04:59.1234567Z", "2026-03-01T10:14:59.1234567Z"
	unknownHeader := msalNET13()
	unknownHeader.extraHeader = `<x:Trace xmlns:x="urn:example:trace">abc</x:Trace>`
	typed := msalNET13()
	typed.passwordType = PasswordText
	samlV11 := msalNET13()
	samlV11.tokenType = TokenTypeSAML11WSS
	cases := []struct {
		name       string
		r          rst
		soapAction string
		soap       SOAPVersion
	}{
		{"MSAL.NET, WS-Trust 1.3", msalNET13(), "", SOAP12},
		{"MSAL.NET, WS-Trust 2005", msalNET2005(), "", SOAP12},
		{"MSAL Python (no fraction of a second)", python, "", SOAP12},
		{"MSAL Java (lower-case messageID)", java, "", SOAP12},
		{"MSAL Go (milliseconds)", goMSAL, "", SOAP12},
		{"no MessageID", noID, "", SOAP12},
		{"SOAP 1.1 with the action in the HTTP header", soap11, `"` + ActionIssue2005 + `"`, SOAP11},
		{"wsa:To over http with another case and a slash", lenientTo, "", SOAP12},
		{"seven fraction digits and 5 minutes of skew", sevenDigits, "", SOAP12},
		{"an unknown header without mustUnderstand", unknownHeader, "", SOAP12},
		{"an explicit PasswordText type", typed, "", SOAP12},
		{"the WSS SAML 1.1 token type", samlV11, "", SOAP12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := opts(c.r.version)
			o.SOAPAction = c.soapAction
			req, err := ParseRequest(c.r.xml(), o)
			if err != nil {
				t.Fatal(err)
			}
			if req.Version != c.r.version || req.SOAP != c.soap || req.Username != "alice@corp.example.com" ||
				req.Password() != alicePass || req.AppliesTo != "urn:federation:MicrosoftOnline" {
				t.Errorf("parsed %+v", req)
			}
			if c.r.messageIDTag != "" && req.MessageID != c.r.messageID {
				t.Errorf("MessageID %q", req.MessageID)
			}
		})
	}
}

func TestBadRequestsAreRefusedWithAReason(t *testing.T) {
	with := func(edit func(*rst)) []byte { r := msalNET13(); edit(&r); return r.xml() }
	good := msalNET13().xml()
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"a DOCTYPE", append([]byte(`<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x "y">]>`), good...), "DTD"},
		{"an entity reference", bytes.Replace(good, []byte("alice@corp"), []byte("&x;@corp"), 1), "well-formed"},
		{"a billion laughs", []byte(`<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>`), "DTD"},
		{"not XML", []byte("username=alice&password=x"), "well-formed"},
		{"an oversize body", append(good, bytes.Repeat([]byte(" "), DefaultMaxBodyBytes)...), "larger than"},
		{"another root element", []byte(`<Envelope/>`), "SOAP envelope"},
		{"two roots", append(append([]byte{}, good...), good...), "more than one root"},
		{"a processing instruction", append([]byte(`<?evil x?>`), good...), "processing"},
		{"no header", []byte(`<s:Envelope xmlns:s="` + NSSOAP12 + `"><s:Body/></s:Envelope>`), "Header"},
		{"an unknown mustUnderstand header", with(func(r *rst) {
			r.extraHeader = `<x:Must xmlns:x="urn:x" s:mustUnderstand="true"/>`
		}), "mustUnderstand"},
		{"a 2005 body at the 1.3 endpoint", msalNET2005().xml(), "action"},
		{"a 2005 body with the 1.3 action", with(func(r *rst) { r.version, r.requestType, r.keyType = Trust2005, RequestTypeIssue05, KeyTypeNoProofKey }), "WS-Trust 2005 request sent to the WS-Trust 1.3 endpoint"},
		{"another action", with(func(r *rst) { r.action = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Validate" }), "action"},
		{"wsa:To of another endpoint", with(func(r *rst) { r.to = "https://evil.example/wstrust/13/usernamemixed" }), "wsa:To"},
		{"no UsernameToken", bytes.Replace(bytes.Replace(good, []byte("<o:UsernameToken"), []byte("<o:Other"), 1), []byte("</o:UsernameToken>"), []byte("</o:Other>"), 1), "no wsse:UsernameToken"},
		{"a password digest", with(func(r *rst) {
			r.passwordType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
		}), "PasswordText"},
		{"an empty user name", with(func(r *rst) { r.username = " " }), "empty Username"},
		{"an oversize password", with(func(r *rst) { r.password = strings.Repeat("p", 1025) }), "Password longer"},
		{"a timestamp in the future", with(func(r *rst) { r.created, r.expires = "2026-03-01T10:05:01Z", "2026-03-01T10:15:01Z" }), "in the future"},
		{"an expired timestamp", with(func(r *rst) { r.created, r.expires = "2026-03-01T09:40:00Z", "2026-03-01T09:54:59Z" }), "expired"},
		{"a malformed timestamp", with(func(r *rst) { r.created = "yesterday" }), "date-time"},
		{"a proof key", with(func(r *rst) { r.keyType = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey" }), "bearer"},
		{"a SAML 2.0 token", with(func(r *rst) { r.tokenType = "urn:oasis:names:tc:SAML:2.0:assertion" }), "SAML 1.1"},
		{"no AppliesTo", with(func(r *rst) { r.appliesTo = "" }), "AppliesTo"},
		{"no RequestType", with(func(r *rst) { r.requestType = "" }), "RequestType"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := ParseRequest(c.body, opts(Trust13))
			if req != nil || !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ParseRequest = %v, %v; want a bad request mentioning %q", req, err, c.want)
			}
		})
	}
}

func TestThePasswordNeverShowsWhenARequestIsPrinted(t *testing.T) {
	req, err := ParseRequest(msalNET13().xml(), opts(Trust13))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("rst", "req", req, "value", *req)
	for _, s := range []string{fmt.Sprint(req), fmt.Sprintf("%v %+v %s", *req, *req, req), logged.String()} {
		if strings.Contains(s, "Al1ce") {
			t.Errorf("the password leaks: %s", s)
		}
		if !strings.Contains(s, "alice@corp.example.com") {
			t.Errorf("the user is missing: %s", s)
		}
	}
}
