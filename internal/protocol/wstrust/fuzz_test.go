package wstrust

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParseRequest(f *testing.F) {
	f.Add(msalNET13().xml(), true)
	f.Add(msalNET2005().xml(), false)
	s11 := msalNET2005()
	s11.soap11 = true
	f.Add(s11.xml(), false)
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`), true)
	f.Add([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>`), true)
	f.Fuzz(func(t *testing.T, body []byte, v13 bool) {
		v := Trust2005
		if v13 {
			v = Trust13
		}
		req, err := ParseRequest(body, opts(v))
		if err != nil {
			if req != nil || !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v with request %v", err, req)
			}
			return
		}
		if req.Version != v || req.Username == "" || req.AppliesTo == "" || strings.Contains(string(body), "<!") {
			t.Fatalf("accepted %+v", req)
		}
		// Every answer to an accepted request must be well-formed.
		_ = BuildFault(req.SOAP, req.Version, FaultFailedAuthentication, req.MessageID)
	})
}
