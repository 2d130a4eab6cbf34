// Package e2e holds Gatehouse's end-to-end tests: real pages, served over
// HTTP on 127.0.0.1, driven in headless Chromium through the DevTools
// protocol (github.com/chromedp/chromedp).
//
// browser.go is the harness, in a non-test file so that other test
// packages can use it: NewBrowser starts a fresh Chromium for one test,
// records every console error, uncaught exception, browser-log error and
// Content-Security-Policy violation (any of them fails the test), and
// saves a screenshot and the page's HTML when the test fails.
// AddVirtualAuthenticator gives the browser a WebAuthn authenticator.
//
// Chromium reaches nothing but the loopback interface: it runs with the
// networking of background services, sync, component updates and QUIC
// switched off, every host name but localhost resolves to nothing, and
// anything not on loopback is sent to a proxy on 127.0.0.1:9 that does
// not exist.
//
// The package must not start the real test services (Samba, PostgreSQL):
// scripts/testenv does, and internal/testenv says where they are.
package e2e
