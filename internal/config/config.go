package config

import "time"

// Config is the whole configuration file.
type Config struct {
	// Issuer is the public base URL of Gatehouse, e.g. https://sso.corp.example.com.
	// It is the WS-Federation/SAML issuer and OIDC issuer unless an app overrides it.
	Issuer string `yaml:"issuer"`
	// Listen is the address the HTTP server binds, host:port.
	Listen string `yaml:"listen"`
	// TLS serves HTTPS directly when both files are set.
	TLS TLS `yaml:"tls"`
	// TrustedProxies are the addresses or CIDR ranges whose X-Forwarded-For
	// is believed. Empty: the TCP peer is the client.
	TrustedProxies []string    `yaml:"trusted_proxies"`
	UI             UI          `yaml:"ui"`
	Log            Log         `yaml:"log"`
	HTTP           HTTP        `yaml:"http"`
	Storage        Storage     `yaml:"storage"`
	Secrets        Secrets     `yaml:"secrets"`
	Signing        Signing     `yaml:"signing"`
	Directory      Directory   `yaml:"directory"`
	Sessions       Sessions    `yaml:"sessions"`
	MFA            MFA         `yaml:"mfa"`
	SMTP           SMTP        `yaml:"smtp"`
	Claims         Claims      `yaml:"claims"`
	SelfService    SelfService `yaml:"self_service"`
	Passwords      Passwords   `yaml:"passwords"`
	Reminders      Reminders   `yaml:"reminders"`
	Abuse          Abuse       `yaml:"abuse"`
	Audit          Audit       `yaml:"audit"`
	Apps           []App       `yaml:"apps"`
}

// Abuse sets the limits on guessing passwords and codes (internal/abuse).
// Every counter lives in the store, so all instances share them.
type Abuse struct {
	// IPv6Prefix is how many leading bits of an IPv6 client address name
	// one client: every address in one /64 (the default) is one client for
	// the per-address limits. IPv4 addresses count one by one.
	IPv6Prefix int            `yaml:"ipv6_prefix"`
	Passwords  PasswordLimits `yaml:"passwords"`
	Codes      CodeLimits     `yaml:"codes"`
}

// PasswordLimits bound wrong passwords, on the sign-in page and WS-Trust
// alike. Gatehouse takes a budget before it sends a password to the
// directory and gives it back unless the password was wrong.
type PasswordLimits struct {
	// Window is how long a wrong password counts against Gatehouse's own
	// limits (an account's runs on, window after its last wrong password,
	// and at least as long as AD's observation window).
	Window time.Duration `yaml:"window"`
	// PerAccount is how many wrong passwords an account may get from
	// unfamiliar clients per window (fewer under an AD lockout threshold:
	// see DirectoryMargin). A name the directory does not know gets the
	// same, so the limit does not tell whether an account exists.
	PerAccount int `yaml:"per_account"`
	// PerFamiliarClient is how many wrong passwords one familiar client —
	// a browser the user signed in with before, or for WS-Trust an address
	// they signed in from — may send per window, on a budget of its own.
	PerFamiliarClient int `yaml:"per_familiar_client"`
	// PerAddress bounds wrong passwords from one client address (IPv6: one
	// ipv6_prefix) per window, over all accounts.
	PerAddress int `yaml:"per_address"`
	// DirectoryMargin is how many attempts before AD's lockout threshold
	// Gatehouse leaves to the user's other clients (Outlook, phones,
	// workstations): unfamiliar clients stop once AD's bad-password count
	// would leave fewer; familiar ones never send the password that would
	// lock.
	DirectoryMargin int `yaml:"directory_margin"`
	// FamiliarFor is how long a browser or an address stays familiar after
	// the user's last successful sign-in from it; 0s turns familiar
	// clients off.
	FamiliarFor time.Duration `yaml:"familiar_for"`
	// RememberWrong is how long a wrong password is remembered (a keyed
	// hash, forgotten when the password changes) so a client repeating it
	// is answered without asking AD again; 0s turns it off.
	RememberWrong time.Duration `yaml:"remember_wrong"`
}

// CodeLimits bound wrong one-time codes (authenticator app, recovery and
// email codes).
type CodeLimits struct {
	// Window is the counting window.
	Window time.Duration `yaml:"window"`
	// PerUser is how many wrong codes a signed-in user (past the password)
	// may enter per window, all methods together.
	PerUser int `yaml:"per_user"`
	// SelfServicePerAddress is how many wrong codes one client address may
	// enter per window in password reset and unlock, which anyone can
	// start; each time it is exceeded the next window doubles (up to 64
	// windows). It never touches the user's own sign-in budget.
	SelfServicePerAddress int `yaml:"self_service_per_address"`
	// SelfServiceMaxFailures is how many wrong codes in a row (at most 100,
	// as NIST SP 800-63B allows) reset and unlock accept for one account;
	// then they stop for it until the user signs in or an administrator
	// resets the count.
	SelfServiceMaxFailures int `yaml:"self_service_max_failures"`
}

// Audit configures the audit trail kept in the store.
type Audit struct {
	// Retention is how long events are kept; older ones are deleted once
	// a day, and the chain stays verifiable. Default 365 days (8760h); 0s
	// keeps every event.
	Retention time.Duration `yaml:"retention"`
}

// SelfService configures forgotten-password reset and unlock.
type SelfService struct {
	// Require is what a reset or unlock must verify: "one_strong_or_two_weak"
	// (a passkey or authenticator app, or two different weaker factors:
	// email code and recovery code), "strong" (a passkey or authenticator
	// app), or "two" (any two different factors).
	Require string `yaml:"require"`
	// Fallback is for users with no factor but their mail: "email" (a code
	// to it is enough) or "helpdesk" (they are told to contact ui.support).
	Fallback string `yaml:"fallback"`
}

// Passwords sets Gatehouse's own checks on new passwords, on top of the
// directory's policy (length, complexity, history), which AD enforces anyway.
type Passwords struct {
	// MinStrength is the lowest zxcvbn score (0–4) a new password needs;
	// 0 turns the strength check off. Default 3 ("safely unguessable").
	MinStrength int `yaml:"min_strength"`
	// BreachedCheck refuses passwords on the offline list of common breached
	// passwords shipped in the binary. Default true.
	BreachedCheck bool `yaml:"breached_check"`
}

// Reminders configures `gatehouse notify expiring`, which mails users whose
// password expires soon.
type Reminders struct {
	// Days before expiry at which a reminder is sent, e.g. [14, 7, 1]; each
	// window mails a user at most once per password.
	Days []int `yaml:"days"`
}

// Claims configures optional claims in issued tokens.
type Claims struct {
	// CorporateNetworks (CIDRs) make insidecorporatenetwork true for
	// sign-ins from these client addresses and false otherwise; empty: the
	// claim is not sent.
	CorporateNetworks []string `yaml:"corporate_networks"`
	// PasswordExpiryWindow sends passwordexpirationtime and
	// passwordchangeurl when the password expires within it (Office then
	// warns the user). Default 14 days (336h), as AD FS; 0s turns it off.
	PasswordExpiryWindow time.Duration `yaml:"password_expiry_window"`
}

// TLS names the certificate and key for serving HTTPS.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether Gatehouse terminates TLS itself.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// UI configures what users see: the product name, logo, colour, and an
// override directory for templates and static files.
type UI struct {
	Name         string `yaml:"name"`
	LogoFile     string `yaml:"logo_file"`     // PNG or SVG shown on every page
	PrimaryColor string `yaml:"primary_color"` // #rrggbb
	// OverrideDir holds templates/*.html and static/* that replace the
	// built-in ones of the same name.
	OverrideDir string `yaml:"override_dir"`
	// DefaultLanguage is used when the browser asks for none we have.
	DefaultLanguage string `yaml:"default_language"`
	// Support is whom users should contact about something suspicious,
	// written into mails: an address or a phone number, e.g.
	// "helpdesk@corp.example.com (+49 30 1234-0)". Empty: "your IT helpdesk".
	Support string `yaml:"support"`
	// TimeZone (IANA name, e.g. Europe/Berlin) for times in mails; default UTC.
	TimeZone string `yaml:"time_zone"`
	// UsernameExample is shown under the sign-in page's user name field
	// ("For example …"), e.g. "j.doe@corp.example.com". Empty: a name at
	// the first Entra app's first domain, else at the AD domain (from
	// discover_domain or base_dn's DC= parts), when users may sign in with
	// a UPN or mail address; else no example.
	UsernameExample string `yaml:"username_example"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// HTTP holds server limits and timeouts.
type HTTP struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	// MaxBodyBytes caps every request body.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxConcurrentRequests is how many requests are handled at once; the
	// others wait their turn. 0: 64 per CPU.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// ServerTiming adds a Server-Timing header (directory, store, signing,
	// total) to every response, for load tests and profiling. Off by
	// default: the directory's time would tell an outsider whether a
	// sign-in name exists, which the uniform failure delay hides.
	ServerTiming bool `yaml:"server_timing"`
	// MetricsListen, when set, is a second address (host:port) that serves
	// /metrics and /readyz with every check's detail; the main listener
	// then serves no /metrics and a /readyz with the status alone.
	MetricsListen string `yaml:"metrics_listen"`
}

// Storage selects and configures the store backend.
type Storage struct {
	Type     string   `yaml:"type"` // sqlite or postgres
	SQLite   SQLite   `yaml:"sqlite"`
	Postgres Postgres `yaml:"postgres"`
}

// SQLite configures the SQLite store.
type SQLite struct {
	Path string `yaml:"path"`
}

// Postgres configures the PostgreSQL store. The DSN is a secret (it usually
// holds a password): give it inline only when it has none.
type Postgres struct {
	DSN     Secret `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
}

// Secrets configures encryption of secrets at rest.
type Secrets struct {
	// EncryptionKeyFile holds 32 random bytes (raw or base64) used to seal
	// TOTP seeds and private keys in the store.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
}

// Signing names the token-signing key and certificate.
type Signing struct {
	KeyFile  string `yaml:"key_file"`
	CertFile string `yaml:"cert_file"`
	// NextKeyFile and NextCertFile, when set, name the key that will
	// replace the current one: it is published in the metadata (and given
	// to Entra as NextSigningCertificate) ahead of the rollover.
	NextKeyFile  string `yaml:"next_key_file"`
	NextCertFile string `yaml:"next_cert_file"`
	// TokenLifetime is how long an issued token is valid.
	TokenLifetime time.Duration `yaml:"token_lifetime"`
}

// Directory selects and configures where users live.
type Directory struct {
	Type            string          `yaml:"type"` // activedirectory or file
	ActiveDirectory ActiveDirectory `yaml:"activedirectory"`
	File            FileDirectory   `yaml:"file"`
}

// ActiveDirectory configures the AD connector.
type ActiveDirectory struct {
	// URLs are the domain controllers, ldaps:// or ldap:// (StartTLS is then
	// mandatory). Tried in order; failed ones are skipped until healthy.
	URLs []string `yaml:"urls"`
	// DiscoverDomain, when set, adds the DCs found by DNS SRV
	// _ldap._tcp.dc._msdcs.<domain> after URLs.
	DiscoverDomain string `yaml:"discover_domain"`
	// CAFile is the PEM bundle that verifies the DCs' certificates. Empty:
	// the system roots.
	CAFile               string        `yaml:"ca_file"`
	BindDN               string        `yaml:"bind_dn"`
	BindPassword         Secret        `yaml:"-"`
	BindPasswordFile     string        `yaml:"bind_password_file"`
	BaseDN               string        `yaml:"base_dn"`
	LoginAttributes      []string      `yaml:"login_attributes"`
	ImmutableIDAttribute string        `yaml:"immutable_id_attribute"` // objectGUID or ms-DS-ConsistencyGuid
	Timeout              time.Duration `yaml:"timeout"`                // per directory call, a retry on another DC included
	PoolSize             int           `yaml:"pool_size"`              // connections per DC
	// AlternateEmailAttribute (e.g. otherMailbox, or an extensionAttribute
	// holding a private address) is where reset and unlock codes go when
	// the user has one: a mailbox not behind the password being reset.
	AlternateEmailAttribute string `yaml:"alternate_email_attribute"`
}

// FileDirectory configures the YAML-file directory.
type FileDirectory struct {
	Path string `yaml:"path"`
}

// Sessions configures sign-in sessions and flows.
type Sessions struct {
	// IdleTimeout ends a session nobody used for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// AbsoluteTimeout ends every session this long after sign-in.
	AbsoluteTimeout time.Duration `yaml:"absolute_timeout"`
	// FlowTimeout bounds one sign-in or self-service flow.
	FlowTimeout time.Duration `yaml:"flow_timeout"`
	// RememberDevice lets users skip the second factor on a browser for
	// this long; zero turns the option off.
	RememberDevice time.Duration `yaml:"remember_device"`
	// RecheckInterval is how stale the directory's word on a session's
	// account may get: single sign-on from a session asks the directory
	// again (disabled, locked, expired, deleted, password changed) when the
	// last answer for the user is older than this.
	RecheckInterval time.Duration `yaml:"recheck_interval"`
}

// MFA configures second factors.
type MFA struct {
	Methods []string `yaml:"methods"` // webauthn, totp, email, recovery
	// RequiredFor is "all", "none", or "apps" (only apps with mfa: required).
	RequiredFor string `yaml:"required_for"`
	// RequiredGroups are AD groups (DN or name) whose members always need MFA.
	RequiredGroups []string `yaml:"required_groups"`
	// Passwordless lets users with a passkey sign in without a password
	// (the passkey must verify the user: PIN or biometrics). It counts as
	// multi-factor. Needs webauthn in methods.
	Passwordless bool `yaml:"passwordless"`
	// EmailAsSecondFactor lets an email code be the second factor where
	// one is required. Off by default: the mailbox is often reachable with
	// the same password (or sits behind this very sign-in), so a user with
	// nothing stronger enrols a passkey or an authenticator app instead.
	// Email codes always serve reset and unlock (self_service).
	EmailAsSecondFactor bool `yaml:"email_as_second_factor"`
}

// SMTP configures outgoing mail.
type SMTP struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	From         string `yaml:"from"`
	Username     string `yaml:"username"`
	Password     Secret `yaml:"-"`
	PasswordFile string `yaml:"password_file"`
	// Security is "starttls" (default), "tls" (implicit, port 465) or "none"
	// (only allowed towards a loopback host).
	Security string `yaml:"security"`
}

// App is one relying party or client.
type App struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // entra, saml, oidc, wsfed, entra-eam
	// Entra
	Domains []string `yaml:"domains"`
	// Protocol is how Entra signs users in: "wsfed" (the default) or
	// "saml" (SAML-P, Entra's PreferredAuthenticationProtocol saml).
	Protocol string `yaml:"protocol"`
	// SAML / WS-Fed
	MetadataFile string `yaml:"metadata_file"`
	// MetadataURL is where a SAML SP publishes its metadata; it is fetched
	// at start and every MetadataRefresh.
	MetadataURL string `yaml:"metadata_url"`
	// MetadataCertFile (PEM, one or more certificates) makes a signature
	// on the metadata mandatory: the document must carry an enveloped
	// signature by one of them. It is the only thing that makes fetched
	// metadata trusted beyond TLS.
	MetadataCertFile string `yaml:"metadata_cert_file"`
	// MetadataRefresh is how often metadata_url is fetched again.
	MetadataRefresh time.Duration `yaml:"metadata_refresh"`
	// EntityID is a WS-Fed realm or a SAML SP's entity ID (with
	// metadata: which entity of an aggregate, and a check).
	EntityID  string   `yaml:"entity_id"`
	ReplyURLs []string `yaml:"reply_urls"`
	// ACSURLs are an inline SAML SP's AssertionConsumerService URLs
	// (HTTP-POST binding), the first the default.
	ACSURLs []string `yaml:"acs_urls"`
	// SLOURL is an inline SAML SP's SingleLogoutService (HTTP-Redirect).
	SLOURL string `yaml:"slo_url"`
	// CertFile is the certificate(s) an SP signs its requests with (PEM):
	// an inline SAML SP's, or Entra's request-signing certificate.
	CertFile string `yaml:"cert_file"`
	// EncryptionCertFile is the certificate an inline SAML SP receives
	// encrypted assertions with (PEM, an RSA key).
	EncryptionCertFile string `yaml:"encryption_cert_file"`
	// NameID is how a SAML SP's NameID is made.
	NameID SAMLNameID `yaml:"name_id"`
	// Attributes are what a SAML SP receives about the user.
	Attributes []SAMLAttribute `yaml:"attributes"`
	// Sign is what Gatehouse signs for a SAML SP: "assertion",
	// "response" or "both".
	Sign string `yaml:"sign"`
	// RequireSignedRequests refuses unsigned AuthnRequests (and logout
	// messages); an SP whose metadata says AuthnRequestsSigned="true"
	// gets it too.
	RequireSignedRequests bool `yaml:"require_signed_requests"`
	// IDPInitiated lets users start at Gatehouse (/saml/sso?sp=…, the
	// tile on /account); nil is the default, true.
	IDPInitiated *bool `yaml:"idp_initiated"`
	// OIDC
	ClientID         string   `yaml:"client_id"`
	ClientSecret     Secret   `yaml:"-"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	RedirectURIs     []string `yaml:"redirect_uris"`
	// Entra EAM (type entra-eam): Gatehouse as an external authentication
	// method of a Microsoft Entra tenant, which checks the password and
	// sends its users here for the second factor alone. ClientID (above)
	// is the client id Entra sends (the method's openIdConnectSetting
	// clientId).
	//
	// TenantID is the tenant's id (a GUID): the id_token_hint must be
	// issued by https://login.microsoftonline.com/<tenant_id>/v2.0 for it.
	TenantID string `yaml:"tenant_id"`
	// AppID is the application id of the app registration Entra issues
	// the id_token_hint for (its aud); empty: ClientID.
	AppID string `yaml:"app_id"`
	// EntraMetadataURL is where Entra's OpenID metadata, and through it
	// its signing keys, is read. Empty: the tenant's own,
	// https://login.microsoftonline.com/<tenant_id>/v2.0/.well-known/openid-configuration.
	EntraMetadataURL string `yaml:"entra_metadata_url"`
	// EntraCAFile is a PEM bundle that verifies the metadata's server;
	// empty: the system roots.
	EntraCAFile string `yaml:"entra_ca_file"`
	// EntraRedirectURI is where the answer is posted; empty:
	// https://login.microsoftonline.com/common/federation/externalauthprovider,
	// the only one Entra uses.
	EntraRedirectURI string `yaml:"entra_redirect_uri"`
	// MFA is "required", "optional" or "" (follow mfa.required_for).
	MFA string `yaml:"mfa"`
	// Groups, when set, limits the app to members of these AD groups.
	Groups []string `yaml:"groups"`
	// WSTrust is "allow" (default) or "deny": rich clients (Outlook,
	// Windows) sign in with a password over WS-Trust, without a second
	// factor; an app that must never accept that denies it.
	WSTrust string `yaml:"ws_trust"`
}

// SAMLNameID is how a SAML SP's NameID is made.
type SAMLNameID struct {
	// Format is persistent, transient, email or unspecified.
	Format string `yaml:"format"`
	// Source is objectguid, immutable_id, upn, mail or samaccountname;
	// transient NameIDs are random and take none.
	Source string `yaml:"source"`
}

// SAMLAttribute is one attribute a SAML SP receives: the user's values
// from Source, or the static Values.
type SAMLAttribute struct {
	Name string `yaml:"name"`
	// Source is upn, mail, samaccountname, displayname, givenname,
	// surname, objectguid, immutable_id, groups (the names of every group,
	// nested ones included), group_dns, or ad:<attribute>.
	Source string   `yaml:"source"`
	Values []string `yaml:"values"`
	// NameFormat is basic (the default), uri or unspecified, or the full
	// urn:oasis:names:tc:SAML:2.0:attrname-format:… of one of them.
	NameFormat   string `yaml:"name_format"`
	FriendlyName string `yaml:"friendly_name"`
}

// Secret is a value that must never be printed or logged.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// Value returns the secret itself, for the one place that needs it.
func (s Secret) Value() string { return string(s) }

// MarshalText hides the value when encoded.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
