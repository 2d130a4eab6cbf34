package config

import (
	"path/filepath"
	"time"
)

// Default returns the configuration every file starts from. It is the only
// place defaults live.
func Default() Config {
	return Config{
		Issuer: "http://127.0.0.1:8080",
		Listen: "127.0.0.1:8080",
		Log:    Log{Level: "info", Format: "text"},
		UI:     UI{Name: "Gatehouse", PrimaryColor: "#1f5fbf", DefaultLanguage: "en", TimeZone: "UTC"},
		HTTP: HTTP{
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   15 * time.Second,
			MaxBodyBytes:      1 << 20,
		},
		Storage: Storage{
			Type:   "sqlite",
			SQLite: SQLite{Path: filepath.Join("data", "gatehouse.db")},
		},
		Secrets: Secrets{EncryptionKeyFile: filepath.Join("data", "encryption.key")},
		Signing: Signing{
			KeyFile:       filepath.Join("data", "signing.key"),
			CertFile:      filepath.Join("data", "signing.crt"),
			TokenLifetime: time.Hour,
		},
		Directory: Directory{
			Type: "activedirectory",
			ActiveDirectory: ActiveDirectory{
				LoginAttributes:      []string{"userPrincipalName", "sAMAccountName", "mail"},
				ImmutableIDAttribute: "objectGUID",
				Timeout:              10 * time.Second,
				PoolSize:             4,
			},
			File: FileDirectory{Path: "users.yaml"},
		},
		Sessions: Sessions{IdleTimeout: 8 * time.Hour, AbsoluteTimeout: 24 * time.Hour, FlowTimeout: 15 * time.Minute,
			RecheckInterval: 5 * time.Minute},
		MFA:         MFA{Methods: []string{"webauthn", "totp", "recovery"}, RequiredFor: "all", Passwordless: true},
		SMTP:        SMTP{Port: 587, Security: "starttls"},
		SelfService: SelfService{Require: "one_strong_or_two_weak", Fallback: "email"},
		Passwords:   Passwords{MinStrength: 3, BreachedCheck: true},
		Reminders:   Reminders{Days: []int{14, 7, 1}},
		Audit:       Audit{Retention: 365 * 24 * time.Hour},
		Claims:      Claims{PasswordExpiryWindow: 14 * 24 * time.Hour},
		Abuse: Abuse{
			IPv6Prefix: 64,
			Passwords: PasswordLimits{Window: 15 * time.Minute, PerAccount: 5, PerFamiliarClient: 5, PerAddress: 100,
				DirectoryMargin: 2, FamiliarFor: 30 * 24 * time.Hour, RememberWrong: 24 * time.Hour},
			Codes: CodeLimits{Window: 15 * time.Minute, PerUser: 5, SelfServicePerAddress: 10, SelfServiceMaxFailures: 100},
		},
	}
}

// DefaultMetadataRefresh is how often a SAML SP's metadata_url is fetched
// again unless the app says otherwise.
const DefaultMetadataRefresh = time.Hour

// WithDefaults returns a with the defaults of its type filled in where it
// leaves a setting empty: an Entra app speaks WS-Federation; a SAML SP
// (and Entra over SAML-P) gets everything signed (Entra: the assertion,
// which is all it reads), a persistent NameID from objectGUID (an email
// NameID from mail), IdP-initiated sign-in, and an hourly metadata_url
// refresh. Load applies it to every app; it is idempotent.
func (a App) WithDefaults() App {
	if a.Type == "entra" && a.Protocol == "" {
		a.Protocol = "wsfed"
	}
	entraSAML := a.Type == "entra" && a.Protocol == "saml"
	if a.Type != "saml" && !entraSAML {
		return a
	}
	if a.Sign == "" {
		a.Sign = "both"
		if entraSAML {
			a.Sign = "assertion"
		}
	}
	if a.Type != "saml" {
		return a
	}
	if a.MetadataURL != "" && a.MetadataRefresh == 0 {
		a.MetadataRefresh = DefaultMetadataRefresh
	}
	if a.NameID.Format == "" {
		a.NameID.Format = "persistent"
	}
	if a.NameID.Source == "" {
		switch a.NameID.Format {
		case "email":
			a.NameID.Source = "mail"
		case "transient":
		default:
			a.NameID.Source = "objectguid"
		}
	}
	if a.IDPInitiated == nil {
		on := true
		a.IDPInitiated = &on
	}
	return a
}
