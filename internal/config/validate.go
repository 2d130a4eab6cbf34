package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// Validate checks every setting and returns Problems listing all that is
// wrong, each with its YAML path, or nil.
func (c *Config) Validate() error {
	var p Problems
	c.validateServer(&p)
	c.validateStorage(&p)
	c.validateDirectory(&p)
	c.validateMFA(&p)
	c.validateSMTP(&p)
	c.validateApps(&p)
	c.validateAbuse(&p)
	if len(p) == 0 {
		return nil
	}
	return p
}

// IsLoopbackHost reports whether host (a name or address, no port) is this
// machine.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

func (c *Config) validateServer(p *Problems) {
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		p.add("issuer", "required: the public URL users reach Gatehouse at, e.g. https://sso.corp.example.com")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		p.add("issuer", "must be an absolute URL like https://sso.corp.example.com, got %q", c.Issuer)
	case u.RawQuery != "" || u.Fragment != "":
		p.add("issuer", "must not have a query or fragment")
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
		p.add("issuer", "must use https (http is only allowed for localhost), got %q", c.Issuer)
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		p.add("listen", "must be host:port, e.g. 127.0.0.1:8080 or :443, got %q", c.Listen)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.add("tls", "set both cert_file and key_file, or neither")
	}
	fileMustExist(p, "tls.cert_file", c.TLS.CertFile)
	fileMustExist(p, "tls.key_file", c.TLS.KeyFile)
	for i, tp := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(tp); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(tp); err == nil {
			continue
		}
		p.add(fmt.Sprintf("trusted_proxies[%d]", i), "must be an IP address or CIDR range, got %q", tp)
	}
	if c.UI.Name == "" {
		p.add("ui.name", "required")
	}
	if !hexColor.MatchString(c.UI.PrimaryColor) {
		p.add("ui.primary_color", "must be a colour like #1f5fbf, got %q", c.UI.PrimaryColor)
	}
	fileMustExist(p, "ui.logo_file", c.UI.LogoFile)
	fileMustExist(p, "ui.override_dir", c.UI.OverrideDir)
	oneOf(p, "ui.default_language", c.UI.DefaultLanguage, "en", "de")
	oneOf(p, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(p, "log.format", c.Log.Format, "text", "json")
	h := c.HTTP
	for _, d := range []struct {
		path string
		v    int64
	}{
		{"http.read_header_timeout", int64(h.ReadHeaderTimeout)},
		{"http.read_timeout", int64(h.ReadTimeout)},
		{"http.write_timeout", int64(h.WriteTimeout)},
		{"http.idle_timeout", int64(h.IdleTimeout)},
		{"http.shutdown_timeout", int64(h.ShutdownTimeout)},
		{"http.max_body_bytes", h.MaxBodyBytes},
	} {
		if d.v <= 0 {
			p.add(d.path, "must be greater than zero")
		}
	}
	if h.MaxConcurrentRequests < 0 {
		p.add("http.max_concurrent_requests", "must not be negative (0: 64 per CPU)")
	}
	if h.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(h.MetricsListen); err != nil || port == "" {
			p.add("http.metrics_listen", "must be host:port, e.g. 127.0.0.1:9090, got %q", h.MetricsListen)
		} else if h.MetricsListen == c.Listen {
			p.add("http.metrics_listen", "must differ from listen")
		}
	}
	if c.Audit.Retention < 0 {
		p.add("audit.retention", "must not be negative (0s keeps every event)")
	}
	for i, n := range c.Claims.CorporateNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			p.add(fmt.Sprintf("claims.corporate_networks[%d]", i), "must be a CIDR range like 10.0.0.0/8, got %q", n)
		}
	}
	if c.Claims.PasswordExpiryWindow < 0 {
		p.add("claims.password_expiry_window", "must not be negative")
	}
	if c.UI.TimeZone != "" {
		if _, err := time.LoadLocation(c.UI.TimeZone); err != nil {
			p.add("ui.time_zone", "not a time zone name like Europe/Berlin: %q", c.UI.TimeZone)
		}
	}
	oneOf(p, "self_service.require", c.SelfService.Require, "one_strong_or_two_weak", "strong", "two")
	oneOf(p, "self_service.fallback", c.SelfService.Fallback, "email", "helpdesk")
	if c.Passwords.MinStrength < 0 || c.Passwords.MinStrength > 4 {
		p.add("passwords.min_strength", "must be a zxcvbn score from 0 (off) to 4, got %d", c.Passwords.MinStrength)
	}
	for i, d := range c.Reminders.Days {
		if d < 1 || d > 365 {
			p.add(fmt.Sprintf("reminders.days[%d]", i), "must be a number of days from 1 to 365, got %d", d)
		}
	}
	ss := c.Sessions
	if ss.IdleTimeout <= 0 || ss.AbsoluteTimeout <= 0 || ss.FlowTimeout <= 0 {
		p.add("sessions", "idle_timeout, absolute_timeout and flow_timeout must be greater than zero")
	}
	if ss.IdleTimeout > ss.AbsoluteTimeout {
		p.add("sessions.idle_timeout", "must not be longer than absolute_timeout")
	}
	if ss.RememberDevice < 0 {
		p.add("sessions.remember_device", "must not be negative")
	}
	if ss.RecheckInterval <= 0 {
		p.add("sessions.recheck_interval", "must be greater than zero (a session cannot skip the directory's word on its account; 1s asks on nearly every sign-on)")
	}
	if c.Secrets.EncryptionKeyFile == "" {
		p.add("secrets.encryption_key_file", "required")
	}
	if c.Signing.KeyFile == "" {
		p.add("signing.key_file", "required")
	}
	if c.Signing.CertFile == "" {
		p.add("signing.cert_file", "required")
	}
	if (c.Signing.NextKeyFile == "") != (c.Signing.NextCertFile == "") {
		p.add("signing", "set both next_key_file and next_cert_file, or neither")
	}
	fileMustExist(p, "signing.next_key_file", c.Signing.NextKeyFile)
	fileMustExist(p, "signing.next_cert_file", c.Signing.NextCertFile)
	if c.Signing.TokenLifetime < time.Minute || c.Signing.TokenLifetime > 24*time.Hour {
		p.add("signing.token_lifetime", "must be between 1m and 24h, got %s", c.Signing.TokenLifetime)
	}
}

func (c *Config) validateStorage(p *Problems) {
	switch c.Storage.Type {
	case "sqlite":
		if c.Storage.SQLite.Path == "" {
			p.add("storage.sqlite.path", "required")
		}
	case "postgres":
		pg := c.Storage.Postgres
		if pg.DSN == "" && pg.DSNFile == "" {
			p.add("storage.postgres.dsn_file", "required: a file holding the connection string, e.g. postgres://gatehouse:…@db:5432/gatehouse")
		}
		if pg.DSN != "" {
			if u, err := url.Parse(pg.DSN.Value()); err == nil && u.Scheme != "" {
				if u.Scheme != "postgres" && u.Scheme != "postgresql" {
					p.add("storage.postgres.dsn", "must be a postgres:// URL or key=value connection string")
				}
			}
		}
	default:
		p.add("storage.type", "must be sqlite or postgres, got %q", c.Storage.Type)
	}
}

// dsnHasPassword reports whether a PostgreSQL connection string carries a
// password: in a postgres:// URL's user information or password
// parameter, or as the password keyword of a key=value string (libpq's
// two forms, told apart as pgx does).
func dsnHasPassword(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// Unparsable: refuse it unless it plainly has no password.
			return strings.Contains(dsn, "@") || strings.Contains(strings.ToLower(dsn), "password")
		}
		if pw, ok := u.User.Password(); ok && pw != "" {
			return true
		}
		return u.Query().Get("password") != ""
	}
	for k, v := range dsnKeywords(dsn) {
		if k == "password" && v != "" {
			return true
		}
	}
	return false
}

// dsnKeywords yields the keyword/value pairs of a libpq key=value
// connection string: "key = value" with optional spaces, the value either
// single-quoted or up to the next space, backslash escaping one character.
func dsnKeywords(s string) func(yield func(k, v string) bool) {
	return func(yield func(k, v string) bool) {
		i := 0
		skip := func() {
			for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
				i++
			}
		}
		for {
			skip()
			if i >= len(s) {
				return
			}
			start := i
			for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
				i++
			}
			key := s[start:i]
			skip()
			if i >= len(s) || s[i] != '=' {
				return // malformed: pgx refuses it anyway
			}
			i++
			skip()
			var val strings.Builder
			quoted := i < len(s) && s[i] == '\''
			if quoted {
				i++
			}
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				if (quoted && c == '\'') || (!quoted && (c == ' ' || c == '\t')) {
					break
				}
				val.WriteByte(c)
				i++
			}
			if quoted && i < len(s) {
				i++ // the closing quote
			}
			if !yield(strings.ToLower(key), val.String()) {
				return
			}
		}
	}
}

var (
	attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
	hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

func (c *Config) validateDirectory(p *Problems) {
	switch c.Directory.Type {
	case "activedirectory":
		ad := c.Directory.ActiveDirectory
		const base = "directory.activedirectory"
		if len(ad.URLs) == 0 && ad.DiscoverDomain == "" {
			p.add(base+".urls", "required: at least one domain controller, e.g. ldaps://dc1.corp.example.com (or set discover_domain)")
		}
		for i, raw := range ad.URLs {
			path := fmt.Sprintf("%s.urls[%d]", base, i)
			u, err := url.Parse(raw)
			switch {
			case !strings.Contains(raw, "://") || (err == nil && u.Scheme != "ldaps" && u.Scheme != "ldap"):
				p.add(path, "must start with ldaps:// (or ldap://, which then always uses StartTLS), got %q", raw)
			case err != nil || u.Host == "":
				p.add(path, "must be a URL like ldaps://dc1.corp.example.com, got %q", raw)
			case u.Path != "" && u.Path != "/":
				p.add(path, "must not have a path, got %q", raw)
			}
		}
		fileMustExist(p, base+".ca_file", ad.CAFile)
		if ad.BindDN == "" {
			p.add(base+".bind_dn", "required: the service account Gatehouse searches with, e.g. CN=svc-gatehouse,OU=Service Accounts,DC=corp,DC=example,DC=com")
		}
		if ad.BindPasswordFile == "" {
			p.add(base+".bind_password_file", "required: a file (mode 600) holding the service account's password")
		}
		if ad.BaseDN == "" {
			p.add(base+".base_dn", "required, e.g. DC=corp,DC=example,DC=com")
		}
		if len(ad.LoginAttributes) == 0 {
			p.add(base+".login_attributes", "required, e.g. [userPrincipalName, sAMAccountName, mail]")
		}
		for i, a := range ad.LoginAttributes {
			if !attrName.MatchString(a) {
				p.add(fmt.Sprintf("%s.login_attributes[%d]", base, i), "not an LDAP attribute name: %q", a)
			}
		}
		oneOf(p, base+".immutable_id_attribute", ad.ImmutableIDAttribute, "objectGUID", "ms-DS-ConsistencyGuid")
		if ad.Timeout <= 0 {
			p.add(base+".timeout", "must be greater than zero")
		}
		if ad.PoolSize < 1 || ad.PoolSize > 64 {
			p.add(base+".pool_size", "must be between 1 and 64, got %d", ad.PoolSize)
		}
	case "file":
		if c.Directory.File.Path == "" {
			p.add("directory.file.path", "required")
		}
	default:
		p.add("directory.type", "must be activedirectory or file, got %q", c.Directory.Type)
	}
}

func (c *Config) validateMFA(p *Problems) {
	for i, m := range c.MFA.Methods {
		oneOf(p, fmt.Sprintf("mfa.methods[%d]", i), m, "webauthn", "totp", "email", "recovery")
	}
	oneOf(p, "mfa.required_for", c.MFA.RequiredFor, "all", "apps", "none")
	groupNames(p, "mfa.required_groups", c.MFA.RequiredGroups)
	if c.MFA.RequiredFor == "all" && len(c.MFA.Methods) == 0 {
		p.add("mfa.methods", "at least one method is needed when required_for is all")
	}
	if slices.Contains(c.MFA.Methods, "email") && c.SMTP.Host == "" {
		p.add("mfa.methods", "email codes need smtp.host")
	}
}

func (c *Config) validateSMTP(p *Problems) {
	s := c.SMTP
	if s.Host == "" {
		return
	}
	if s.Port < 1 || s.Port > 65535 {
		p.add("smtp.port", "must be between 1 and 65535, got %d", s.Port)
	}
	if a, err := mail.ParseAddress(s.From); err != nil || a.Address == "" {
		p.add("smtp.from", "must be an email address, got %q", s.From)
	}
	oneOf(p, "smtp.security", s.Security, "starttls", "tls", "none")
	if s.Security == "none" && !IsLoopbackHost(s.Host) {
		p.add("smtp.security", "none (no TLS) is only allowed towards a local relay on localhost")
	}
	if s.Username != "" && s.PasswordFile == "" {
		p.add("smtp.password_file", "required when smtp.username is set")
	}
}

func (c *Config) validateApps(p *Problems) {
	names := map[string]int{}
	clients := map[string]int{}
	for i, a := range c.Apps {
		base := fmt.Sprintf("apps[%d]", i)
		if a.Name == "" {
			p.add(base+".name", "required")
		} else {
			unique(p, base+".name", names, a.Name, i, "is already used by apps[%d]")
		}
		oneOf(p, base+".mfa", a.MFA, "", "required", "optional")
		oneOf(p, base+".ws_trust", a.WSTrust, "", "allow", "deny")
		groupNames(p, base+".groups", a.Groups)
		validateAppKeys(p, base, a)
		switch a.Type {
		case "entra":
			if len(a.Domains) == 0 {
				p.add(base+".domains", "required: the federated domains, e.g. [corp.example.com]")
			}
			oneOf(p, base+".protocol", a.Protocol, "", "wsfed", "saml")
			for j, r := range a.ReplyURLs {
				absoluteURL(p, fmt.Sprintf("%s.reply_urls[%d]", base, j), r)
			}
			if a.Protocol == "saml" {
				// Entra reads the assertion's signature only.
				oneOf(p, base+".sign", a.Sign, "", "assertion", "both")
				fileMustExist(p, base+".cert_file", a.CertFile)
				if a.RequireSignedRequests && a.CertFile == "" {
					p.add(base+".cert_file", "required with require_signed_requests: Entra's request-signing certificate (PEM)")
				}
			}
		case "saml":
			validateSAMLApp(p, base, a)
		case "wsfed":
			if a.EntityID == "" {
				// A WS-Fed relying party is its realm and reply URLs;
				// no metadata file is read for it.
				p.add(base+".entity_id", "required for a wsfed app, with reply_urls")
			}
			fileMustExist(p, base+".metadata_file", a.MetadataFile)
			if a.EntityID != "" && len(a.ReplyURLs) == 0 {
				p.add(base+".reply_urls", "required with entity_id")
			}
			for j, r := range a.ReplyURLs {
				absoluteURL(p, fmt.Sprintf("%s.reply_urls[%d]", base, j), r)
			}
		case "oidc":
			validateOIDCApp(p, base, i, a, clients)
		case "entra-eam":
			c.validateEAMApp(p, base, i, a, clients)
		default:
			p.add(base+".type", "must be entra, saml, wsfed, oidc or entra-eam, got %q", a.Type)
		}
	}
}

// unique records that key is used by entry i of a list, or reports at
// path that entry seen[key] already uses it; already is the message after
// the quoted key, with a %d for that entry.
func unique(p *Problems, path string, seen map[string]int, key string, i int, already string) {
	if j, dup := seen[key]; dup {
		p.add(path, "%q "+already, key, j)
		return
	}
	seen[key] = i
}

// validateAppKeys reports the SAML settings an app of another type (or
// Entra over WS-Federation) would silently ignore.
func validateAppKeys(p *Problems, base string, a App) {
	saml := a.Type == "saml"
	entraSAML := a.Type == "entra" && a.Protocol == "saml"
	const onlySAML, onlySAMLOrEntra = "only for type saml", "only for type saml, or entra with protocol: saml"
	for _, k := range []struct {
		key     string
		set, ok bool
		why     string
	}{
		{"protocol", a.Protocol != "", a.Type == "entra", "only for type entra"},
		{"metadata_url", a.MetadataURL != "", saml, onlySAML},
		{"metadata_cert_file", a.MetadataCertFile != "", saml, onlySAML},
		{"metadata_refresh", a.MetadataRefresh != 0, saml && a.MetadataURL != "", "only with metadata_url"},
		{"acs_urls", len(a.ACSURLs) > 0, saml, onlySAML + " (Entra: reply_urls)"},
		{"slo_url", a.SLOURL != "", saml, onlySAML},
		{"cert_file", a.CertFile != "", saml || entraSAML, onlySAMLOrEntra},
		{"encryption_cert_file", a.EncryptionCertFile != "", saml, onlySAML},
		{"name_id", a.NameID != (SAMLNameID{}), saml, onlySAML + " (Entra always gets the ImmutableID)"},
		{"attributes", len(a.Attributes) > 0, saml, onlySAML},
		{"sign", a.Sign != "", saml || entraSAML, onlySAMLOrEntra},
		{"require_signed_requests", a.RequireSignedRequests, saml || entraSAML, onlySAMLOrEntra},
		{"idp_initiated", a.IDPInitiated != nil, saml, onlySAML},
	} {
		if k.set && !k.ok {
			p.add(base+"."+k.key, "%s", k.why)
		}
	}
}

// The NameID and attribute sources a SAML SP can be given (saml.go
// documents what each means).
var (
	samlNameIDSources    = []string{"objectguid", "immutable_id", "upn", "mail", "samaccountname"}
	samlAttributeSources = []string{"upn", "mail", "samaccountname", "displayname", "givenname", "surname",
		"objectguid", "immutable_id", "groups", "group_dns"}
	samlNameFormats = []string{"basic", "uri", "unspecified",
		"urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
		"urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
		"urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"}
)

func validateSAMLApp(p *Problems, base string, a App) {
	var from []string
	for _, f := range []struct {
		key string
		set bool
	}{{"metadata_file", a.MetadataFile != ""}, {"metadata_url", a.MetadataURL != ""}, {"acs_urls", len(a.ACSURLs) > 0}} {
		if f.set {
			from = append(from, f.key)
		}
	}
	switch {
	case len(from) == 0:
		p.add(base+".metadata_file", "required: the service provider's metadata (or metadata_url, or entity_id with acs_urls)")
	case len(from) > 1:
		p.add(base+"."+from[1], "set one of metadata_file, metadata_url or entity_id with acs_urls, not both %s and %s", from[0], from[1])
	}
	metadata := a.MetadataFile != "" || a.MetadataURL != ""
	fileMustExist(p, base+".metadata_file", a.MetadataFile)
	if a.MetadataURL != "" {
		if err := CheckEndpointURL(a.MetadataURL); err != nil {
			p.add(base+".metadata_url", "%v, got %q", err, a.MetadataURL)
		}
		if a.MetadataRefresh < time.Minute {
			p.add(base+".metadata_refresh", "must be at least 1m, got %s", a.MetadataRefresh)
		}
	}
	fileMustExist(p, base+".metadata_cert_file", a.MetadataCertFile)
	if a.MetadataCertFile != "" && !metadata {
		p.add(base+".metadata_cert_file", "only with metadata_file or metadata_url")
	}
	if len(a.ACSURLs) > 0 && !metadata && a.EntityID == "" {
		p.add(base+".entity_id", "required with acs_urls: the service provider's entity ID")
	}
	if len(a.EntityID) > 1024 {
		p.add(base+".entity_id", "longer than SAML's 1024 characters")
	}
	for j, u := range a.ACSURLs {
		if err := CheckEndpointURL(u); err != nil {
			p.add(fmt.Sprintf("%s.acs_urls[%d]", base, j), "%v, got %q", err, u)
		}
	}
	if a.SLOURL != "" {
		if err := CheckEndpointURL(a.SLOURL); err != nil {
			p.add(base+".slo_url", "%v, got %q", err, a.SLOURL)
		}
	}
	if metadata {
		for _, k := range []struct {
			key string
			set bool
		}{{"slo_url", a.SLOURL != ""}, {"cert_file", a.CertFile != ""}, {"encryption_cert_file", a.EncryptionCertFile != ""}} {
			if k.set {
				p.add(base+"."+k.key, "comes from the metadata: set it there, or describe the service provider inline (entity_id, acs_urls)")
			}
		}
	}
	fileMustExist(p, base+".cert_file", a.CertFile)
	fileMustExist(p, base+".encryption_cert_file", a.EncryptionCertFile)
	if a.RequireSignedRequests && !metadata && a.CertFile == "" {
		p.add(base+".cert_file", "required with require_signed_requests: the certificate the service provider signs with (PEM)")
	}
	if len(a.ReplyURLs) > 0 {
		p.add(base+".reply_urls", "a saml app lists its assertion consumer services in acs_urls")
	}
	oneOf(p, base+".name_id.format", a.NameID.Format, "", "persistent", "transient", "email", "unspecified")
	if a.NameID.Format == "transient" {
		if a.NameID.Source != "" {
			p.add(base+".name_id.source", "a transient NameID is random for every sign-in and has no source")
		}
	} else {
		oneOf(p, base+".name_id.source", a.NameID.Source, append([]string{""}, samlNameIDSources...)...)
	}
	oneOf(p, base+".sign", a.Sign, "", "assertion", "response", "both")
	attrs := map[string]int{}
	for j, at := range a.Attributes {
		path := fmt.Sprintf("%s.attributes[%d]", base, j)
		if at.Name == "" {
			p.add(path+".name", "required")
		} else {
			unique(p, path+".name", attrs, at.Name, j, "is already sent by attributes[%d]")
		}
		switch {
		case at.Source == "" && len(at.Values) == 0:
			p.add(path+".source", "required (or values: static values)")
		case at.Source != "" && len(at.Values) > 0:
			p.add(path+".values", "set source or values, not both")
		case at.Source != "":
			if ad, ok := strings.CutPrefix(at.Source, "ad:"); ok {
				if err := directory.CheckAttributeName(ad); err != nil {
					p.add(path+".source", "%v", err)
				}
			} else {
				oneOf(p, path+".source", at.Source, samlAttributeSources...)
			}
		}
		for k, v := range at.Values {
			if v == "" {
				p.add(fmt.Sprintf("%s.values[%d]", path, k), "must not be empty")
			}
		}
		if at.NameFormat != "" {
			oneOf(p, path+".name_format", at.NameFormat, samlNameFormats...)
		}
	}
}

// CheckEndpointURL reports why raw may not receive tokens or users, or
// nil: it must be an absolute https URL (http only towards a loopback
// host, for tests and local development) without user information or
// fragment. Reply URLs, SAML endpoints and metadata URLs all follow it,
// and are then compared byte for byte.
func CheckEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return errors.New("must be an absolute https URL")
	case u.User != nil || strings.ContainsRune(raw, '#'):
		return errors.New("must be a URL without user information or fragment")
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
		return errors.New("must use https (http only for a loopback host)")
	}
	return nil
}

func absoluteURL(p *Problems, path, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		p.add(path, "must be an absolute https URL, got %q", raw)
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
		p.add(path, "must use https (http only for localhost), got %q", raw)
	case u.Fragment != "":
		p.add(path, "must not have a fragment")
	}
}

func oneOf(p *Problems, path, v string, allowed ...string) {
	if slices.Contains(allowed, v) {
		return
	}
	var quoted []string
	for _, a := range allowed {
		if a != "" {
			quoted = append(quoted, a)
		}
	}
	p.add(path, "must be one of %s, got %q", strings.Join(quoted, ", "), v)
}

func fileMustExist(p *Problems, path, file string) {
	if file == "" {
		return
	}
	if _, err := os.Stat(file); err != nil {
		p.add(path, "cannot read %s: %v", file, unwrapPathError(err))
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok { //nolint:errorlint // only the direct *PathError carries Op/Path noise
		return pe.Err
	}
	return err
}

func (c *Config) validateAbuse(p *Problems) {
	a := c.Abuse
	if a.IPv6Prefix < 32 || a.IPv6Prefix > 128 {
		p.add("abuse.ipv6_prefix", "must be between 32 and 128, got %d", a.IPv6Prefix)
	}
	positive := func(path string, d time.Duration) {
		if d <= 0 {
			p.add(path, "must be greater than zero")
		}
	}
	notNegative := func(path string, d time.Duration) {
		if d < 0 {
			p.add(path, "must not be negative (0s turns it off)")
		}
	}
	atLeastOne := func(path string, n int) {
		if n < 1 {
			p.add(path, "must be at least 1, got %d", n)
		}
	}
	pw := a.Passwords
	positive("abuse.passwords.window", pw.Window)
	atLeastOne("abuse.passwords.per_account", pw.PerAccount)
	atLeastOne("abuse.passwords.per_familiar_client", pw.PerFamiliarClient)
	atLeastOne("abuse.passwords.per_address", pw.PerAddress)
	if pw.DirectoryMargin < 0 || pw.DirectoryMargin > 10 {
		p.add("abuse.passwords.directory_margin", "must be between 0 and 10, got %d", pw.DirectoryMargin)
	}
	notNegative("abuse.passwords.familiar_for", pw.FamiliarFor)
	notNegative("abuse.passwords.remember_wrong", pw.RememberWrong)
	cd := a.Codes
	positive("abuse.codes.window", cd.Window)
	atLeastOne("abuse.codes.per_user", cd.PerUser)
	atLeastOne("abuse.codes.self_service_per_address", cd.SelfServicePerAddress)
	if cd.SelfServiceMaxFailures < 1 || cd.SelfServiceMaxFailures > 100 {
		p.add("abuse.codes.self_service_max_failures", "must be between 1 and 100 (NIST SP 800-63B), got %d", cd.SelfServiceMaxFailures)
	}
}

// groupNames checks a list of AD groups, each a name (CN) or a whole
// distinguished name. An entry that is one piece of a DN (CN=…, OU=…,
// DC=… without a comma) is a DN that YAML split at its commas because it
// was not quoted: it would match no group, and lock every user out.
func groupNames(p *Problems, path string, groups []string) {
	for i, g := range groups {
		key, _, isRDN := strings.Cut(g, "=")
		switch k := strings.ToUpper(strings.TrimSpace(key)); {
		case strings.TrimSpace(g) == "":
			p.add(fmt.Sprintf("%s[%d]", path, i), "must not be empty")
		case isRDN && !strings.Contains(g, ",") && (k == "CN" || k == "OU" || k == "DC"):
			p.add(fmt.Sprintf("%s[%d]", path, i), "%q is a piece of a distinguished name: quote the whole DN, e.g. [\"CN=Staff,OU=Groups,DC=corp,DC=example,DC=com\"]", g)
		}
	}
}
