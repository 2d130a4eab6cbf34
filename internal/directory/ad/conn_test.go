package ad

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// listen starts a TCP listener on 127.0.0.1:0 whose connections are handled
// by serve; everything stops at the end of the test.
func listen(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	addr, _ := listenCounting(t, serve)
	return addr
}

// listenCounting is listen that also reports how many connections it
// accepted so far.
func listenCounting(t *testing.T, serve func(net.Conn)) (string, func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); serve(c) }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	accepted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
	return ln.Addr().String(), accepted
}

// silent accepts TCP and never answers (reads and discards).
func silent(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func targetFor(t *testing.T, scheme, addr string) *target {
	t.Helper()
	tg, err := parseTarget(scheme+"://"+addr, baseTLS())
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestDialFailuresAreTransportFailuresBeforeSending(t *testing.T) {
	tests := []struct {
		name   string
		scheme string
		addr   func(t *testing.T) string
	}{
		{"a closed port (LDAPS)", "ldaps", closedPort},
		{"a closed port (StartTLS)", "ldap", closedPort},
		{"a listener that never answers the TLS handshake", "ldaps", func(t *testing.T) string { return listen(t, silent) }},
		{"a listener that never answers StartTLS", "ldap", func(t *testing.T) string { return listen(t, silent) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			c, err := dialLDAP(ctx, targetFor(t, tt.scheme, tt.addr(t)))
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if !isTransport(err) || wasSent(err) {
				t.Errorf("err = %v: want a transport failure before sending", err)
			}
		})
	}
}

func TestStartTLSRefusedMeansNoConnection(t *testing.T) {
	refused := make(chan struct{}, 1)
	addr := listen(t, func(c net.Conn) {
		p, err := ber.ReadPacket(c)
		if err != nil || len(p.Children) < 2 {
			return
		}
		id, _ := p.Children[0].Value.(int64)
		resp := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
		resp.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
		ext := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedResponse, nil, "Extended Response")
		ext.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(ldap.LDAPResultProtocolError), "resultCode"))
		ext.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
		ext.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "StartTLS not supported", "diagnosticMessage"))
		resp.AppendChild(ext)
		_, _ = c.Write(resp.Bytes())
		refused <- struct{}{}
		// Anything sent after this would be in clear text.
		silent(c)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := dialLDAP(ctx, targetFor(t, "ldap", addr))
	if err == nil {
		c.Close()
		t.Fatal("a DC that refused StartTLS gave a connection")
	}
	select {
	case <-refused:
	default:
		t.Fatal("the server never saw the StartTLS request")
	}
	if !isTransport(err) || !strings.Contains(err.Error(), "StartTLS") {
		t.Errorf("err = %v", err)
	}
}

func TestUntrustedCertificateIsRefused(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rogue"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	addr := listen(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		_ = tc.Handshake()
		silent(tc)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tg := targetFor(t, "ldaps", addr)
	tg.tls.RootCAs = x509.NewCertPool() // trusts nothing but the (empty) configured CA
	c, err := dialLDAP(ctx, tg)
	if err == nil {
		c.Close()
		t.Fatal("a certificate from an unknown CA was accepted")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("err = %v", err)
	}
}
