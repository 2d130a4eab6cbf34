package file

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// File is the on-disk format.
type File struct {
	Policy PolicyFile `yaml:"policy"`
	Users  []UserFile `yaml:"users"`
}

// PolicyFile is the password and lockout policy for every user in the file.
type PolicyFile struct {
	MinLength        int           `yaml:"min_length"`
	Complexity       bool          `yaml:"complexity"`
	HistoryLength    int           `yaml:"history_length"`
	MinAge           time.Duration `yaml:"min_age"`
	MaxAge           time.Duration `yaml:"max_age"`
	LockoutThreshold int           `yaml:"lockout_threshold"`
	LockoutDuration  time.Duration `yaml:"lockout_duration"`
}

// UserFile is one user in the file.
type UserFile struct {
	ID                string    `yaml:"id"` // 32 hex characters; generated when missing
	Username          string    `yaml:"username"`
	UPN               string    `yaml:"upn,omitempty"`
	Mail              string    `yaml:"mail,omitempty"`
	AlternateMail     string    `yaml:"alternate_mail,omitempty"`
	DisplayName       string    `yaml:"display_name,omitempty"`
	GivenName         string    `yaml:"given_name,omitempty"`
	Surname           string    `yaml:"surname,omitempty"`
	Groups            []string  `yaml:"groups,omitempty"`
	PasswordHash      string    `yaml:"password_hash"`
	PasswordHistory   []string  `yaml:"password_history,omitempty"`
	PasswordChangedAt time.Time `yaml:"password_changed_at,omitempty"`
	MustChange        bool      `yaml:"must_change,omitempty"`
	Disabled          bool      `yaml:"disabled,omitempty"`
	Expires           time.Time `yaml:"expires,omitempty"`
	LockedUntil       time.Time `yaml:"locked_until,omitempty"`
	BadPasswordCount  int       `yaml:"bad_password_count,omitempty"`

	// Attributes are the extra attributes apps may receive (attribute
	// rules "ad:<name>"), e.g. {department: [Sales]}: names as for AD
	// (directory.CheckAttributeName), at most directory.MaxAttributeValues
	// values of at most directory.MaxAttributeValueLen bytes each.
	Attributes map[string][]string `yaml:"attributes,omitempty"`
}

// DefaultPolicy is the policy of a file without a policy section.
func DefaultPolicy() PolicyFile {
	return PolicyFile{MinLength: 12, Complexity: true, HistoryLength: 5, LockoutThreshold: 10, LockoutDuration: 15 * time.Minute}
}

// Directory is a file-backed directory.
type Directory struct {
	path string
	log  *slog.Logger
	now  func() time.Time

	// rename is os.Rename; a test replaces it to make a write fail.
	rename func(oldpath, newpath string) error

	mu      sync.Mutex
	data    File
	modTime time.Time
	size    int64
	dummy   string // hash verified for unknown users, so timing does not tell
}

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
}

// Open loads the file at path. A missing ID is generated and written back.
func Open(_ context.Context, path string, opts Options) (*Directory, error) {
	d := &Directory{path: path, log: opts.Logger, now: opts.Now, rename: os.Rename}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	var err error
	if d.dummy, err = Hash("not a real password"); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.load(); err != nil {
		return nil, err
	}
	changed := false
	for i := range d.data.Users {
		if d.data.Users[i].ID == "" {
			d.data.Users[i].ID = newID()
			changed = true
		}
	}
	if changed {
		if err := d.save(d.data); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// load reads the file if it changed on disk since the last read, so an
// administrator's edit is picked up without a restart.
func (d *Directory) load() error {
	st, err := os.Stat(d.path)
	if err != nil {
		return fmt.Errorf("user file: %w", err)
	}
	if st.ModTime().Equal(d.modTime) && st.Size() == d.size {
		return nil
	}
	raw, err := os.ReadFile(d.path)
	if err != nil {
		return fmt.Errorf("user file: %w", err)
	}
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("user file %s: %w", d.path, err)
	}
	if f.Policy == (PolicyFile{}) {
		f.Policy = DefaultPolicy()
	}
	seen := map[string]bool{}
	for i, u := range f.Users {
		if u.Username == "" {
			return fmt.Errorf("user file %s: users[%d] has no username", d.path, i)
		}
		mine := map[string]bool{}
		for _, k := range []string{u.Username, u.UPN, u.Mail} {
			if k != "" {
				mine[strings.ToLower(k)] = true
			}
		}
		for k := range mine {
			if seen[k] {
				return fmt.Errorf("user file %s: login %q is used by more than one user", d.path, k)
			}
			seen[k] = true
		}
		if u.ID != "" {
			if b, err := hex.DecodeString(u.ID); err != nil || len(b) != 16 {
				return fmt.Errorf("user file %s: users[%d].id must be 32 hex characters", d.path, i)
			}
		}
		if err := checkAttributes(u.Attributes); err != nil {
			return fmt.Errorf("user file %s: users[%d].attributes: %w", d.path, i, err)
		}
	}
	d.data, d.modTime, d.size = f, st.ModTime(), st.Size()
	return nil
}

// save writes f atomically and makes it the current state only when the
// write succeeded.
func (d *Directory) save(f File) error {
	out, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("user file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.path), ".users-*.yaml")
	if err != nil {
		return fmt.Errorf("user file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("user file: %w", err)
	}
	if _, err := tmp.Write(out); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("user file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("user file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("user file: %w", err)
	}
	if err := d.rename(tmp.Name(), d.path); err != nil {
		return fmt.Errorf("user file: %w", err)
	}
	st, err := os.Stat(d.path)
	if err != nil {
		return fmt.Errorf("user file: %w", err)
	}
	d.data, d.modTime, d.size = f, st.ModTime(), st.Size()
	return nil
}

// update runs fn on a copy of user i and saves the result; on any error
// nothing changes.
func (d *Directory) update(i int, fn func(u *UserFile)) error {
	f := d.data
	f.Users = append([]UserFile(nil), d.data.Users...)
	u := f.Users[i]
	u.Groups = append([]string(nil), u.Groups...)
	u.PasswordHistory = append([]string(nil), u.PasswordHistory...)
	fn(&u)
	f.Users[i] = u
	return d.save(f)
}

func (d *Directory) find(login string) (int, bool) {
	login = strings.ToLower(strings.TrimSpace(login))
	if login == "" {
		return -1, false
	}
	for i, u := range d.data.Users {
		if strings.ToLower(u.Username) == login || (u.UPN != "" && strings.ToLower(u.UPN) == login) ||
			(u.Mail != "" && strings.ToLower(u.Mail) == login) {
			return i, true
		}
	}
	return -1, false
}

func (d *Directory) policy() directory.Policy {
	p := d.data.Policy
	return directory.Policy{
		MinLength: p.MinLength, Complexity: p.Complexity, HistoryLength: p.HistoryLength,
		MinAge: p.MinAge, MaxAge: p.MaxAge, LockoutThreshold: p.LockoutThreshold,
		LockoutDuration: p.LockoutDuration, Source: "file",
	}
}

func (d *Directory) toUser(u UserFile) *directory.User {
	raw, _ := hex.DecodeString(u.ID)
	now := d.now()
	st := directory.AccountState{
		Disabled:        u.Disabled,
		MustChange:      u.MustChange,
		AccountExpires:  u.Expires,
		PasswordLastSet: u.PasswordChangedAt,
	}
	if now.Before(u.LockedUntil) {
		st.Locked, st.LockedUntil = true, u.LockedUntil
	}
	// The file keeps its count until a right password or a lockout: no
	// observation window.
	st.BadPasswordCount = u.BadPasswordCount
	lp := d.policy().Lockout()
	st.Lockout = &lp
	if maxAge := d.data.Policy.MaxAge; maxAge > 0 && !u.PasswordChangedAt.IsZero() {
		st.PasswordExpires = u.PasswordChangedAt.Add(maxAge)
	}
	return &directory.User{
		ID: u.ID, DN: "uid=" + u.Username, SAMAccountName: u.Username, UPN: u.UPN, Mail: u.Mail, AlternateMail: u.AlternateMail,
		DisplayName: u.DisplayName, GivenName: u.GivenName, Surname: u.Surname,
		ImmutableID: base64.StdEncoding.EncodeToString(raw),
		Groups:      append([]string(nil), u.Groups...), Attributes: attributes(u.Attributes), State: st,
	}
}

// checkAttributes checks a user's extra attributes as the AD directory
// would read them: names it may read, each once whatever its case, and
// within the caps. Unlike AD, where a value over a cap is left out, a
// file over one is refused: its administrator can fix it.
func checkAttributes(attrs map[string][]string) error {
	seen := map[string]string{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		vals := attrs[name]
		if err := directory.CheckAttributeName(name); err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := seen[strings.ToLower(name)]; dup {
			errs = append(errs, fmt.Errorf("%q and %q are the same attribute", other, name))
		}
		seen[strings.ToLower(name)] = name
		if len(vals) > directory.MaxAttributeValues {
			errs = append(errs, fmt.Errorf("%q has %d values, more than %d", name, len(vals), directory.MaxAttributeValues))
		}
		for _, v := range vals {
			if len(v) > directory.MaxAttributeValueLen {
				errs = append(errs, fmt.Errorf("%q has a value longer than %d bytes", name, directory.MaxAttributeValueLen))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// attributes copies a user's extra attributes with their names in lower
// case; nil when the user has none.
func attributes(in map[string][]string) map[string][]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string][]string, len(in))
	for name, vals := range in {
		out[strings.ToLower(name)] = append([]string(nil), vals...)
	}
	return out
}

// Authenticate implements directory.Directory. The account state is
// checked only after the password, as AD does, except that a locked
// account is refused even with the right password.
func (d *Directory) Authenticate(_ context.Context, login, password string) (*directory.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.load(); err != nil {
		return nil, err
	}
	i, ok := d.find(login)
	if !ok {
		_, _ = verify(d.dummy, password)
		return nil, directory.ErrInvalidCredentials
	}
	u := d.data.Users[i]
	now := d.now()
	if now.Before(u.LockedUntil) {
		_, _ = verify(d.dummy, password)
		return nil, directory.ErrAccountLocked
	}
	good, err := verify(u.PasswordHash, password)
	if err != nil {
		d.log.Error("user file: unusable password hash", "user", u.Username)
		return nil, directory.ErrInvalidCredentials
	}
	if !good {
		p := d.data.Policy
		if err := d.update(i, func(u *UserFile) {
			u.BadPasswordCount++
			if p.LockoutThreshold > 0 && u.BadPasswordCount >= p.LockoutThreshold {
				u.LockedUntil = now.Add(p.LockoutDuration)
				if p.LockoutDuration == 0 {
					u.LockedUntil = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
				}
				u.BadPasswordCount = 0
			}
		}); err != nil {
			return nil, err
		}
		return nil, directory.ErrInvalidCredentials
	}
	if u.BadPasswordCount > 0 || !u.LockedUntil.IsZero() {
		if err := d.update(i, func(u *UserFile) { u.BadPasswordCount, u.LockedUntil = 0, time.Time{} }); err != nil {
			return nil, err
		}
		u = d.data.Users[i]
	}
	user := d.toUser(u)
	switch {
	case u.Disabled:
		return nil, directory.ErrAccountDisabled
	case !u.Expires.IsZero() && !now.Before(u.Expires):
		return nil, directory.ErrAccountExpired
	case u.MustChange:
		return user, directory.ErrMustChangePassword
	case !user.State.PasswordExpires.IsZero() && !now.Before(user.State.PasswordExpires):
		return user, directory.ErrPasswordExpired
	}
	return user, nil
}

// AuthenticateWith implements directory.CheckedAuthenticator.
func (d *Directory) AuthenticateWith(ctx context.Context, login, password string, before func(context.Context, *directory.User) error) (*directory.User, error) {
	if before != nil {
		d.mu.Lock()
		err := d.load()
		i, ok := d.find(login)
		var u *directory.User
		if err == nil && ok {
			u = d.toUser(d.data.Users[i])
		}
		d.mu.Unlock()
		switch {
		case err != nil:
			return nil, err
		case !ok:
			// Authenticate answers, with the same work as for any
			// unknown user.
		default:
			if err := before(ctx, u); err != nil {
				return nil, err
			}
		}
	}
	return d.Authenticate(ctx, login, password)
}

// DomainPolicy implements directory.DomainPolicyReader: the file's one
// policy.
func (d *Directory) DomainPolicy(ctx context.Context) (directory.Policy, error) {
	return d.PasswordPolicy(ctx, nil)
}

// LookupUser implements directory.Directory.
func (d *Directory) LookupUser(_ context.Context, login string) (*directory.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.load(); err != nil {
		return nil, err
	}
	i, ok := d.find(login)
	if !ok {
		return nil, directory.ErrUserNotFound
	}
	return d.toUser(d.data.Users[i]), nil
}

// LookupUserByID implements directory.IDLookup.
func (d *Directory) LookupUserByID(_ context.Context, id string) (*directory.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := d.byID(id)
	if err != nil {
		return nil, err
	}
	return d.toUser(d.data.Users[i]), nil
}

// Check implements directory.Directory: the file can be read.
func (d *Directory) Check(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.load()
}

// Close implements directory.Directory.
func (d *Directory) Close() error { return nil }

// PasswordPolicy implements directory.PolicyReader.
func (d *Directory) PasswordPolicy(context.Context, *directory.User) (directory.Policy, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.load(); err != nil {
		return directory.Policy{}, err
	}
	return d.policy(), nil
}

func (d *Directory) byID(id string) (int, error) {
	if err := d.load(); err != nil {
		return -1, err
	}
	for i, u := range d.data.Users {
		if u.ID == id {
			return i, nil
		}
	}
	return -1, directory.ErrUserNotFound
}

// ChangePassword implements directory.PasswordChanger: the old password is
// checked, then the policy including history and minimum age.
func (d *Directory) ChangePassword(_ context.Context, user *directory.User, oldPassword, newPassword string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := d.byID(user.ID)
	if err != nil {
		return err
	}
	u := d.data.Users[i]
	if ok, _ := verify(u.PasswordHash, oldPassword); !ok {
		return directory.ErrWrongPassword
	}
	p := d.policy()
	if p.MinAge > 0 && !u.MustChange && d.now().Before(u.PasswordChangedAt.Add(p.MinAge)) {
		return &directory.PolicyError{Violations: []directory.PolicyViolation{p.Explain(directory.ReasonTooYoung)}}
	}
	return d.setPassword(i, newPassword)
}

// ResetPassword implements directory.PasswordResetter, enforcing the policy
// and history (not the minimum age: a reset is for a forgotten password).
func (d *Directory) ResetPassword(_ context.Context, user *directory.User, newPassword string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := d.byID(user.ID)
	if err != nil {
		return err
	}
	return d.setPassword(i, newPassword)
}

func (d *Directory) setPassword(i int, newPassword string) error {
	u := d.data.Users[i]
	p := d.policy()
	violations := p.Check(newPassword, d.toUser(u))
	if p.HistoryLength > 0 {
		for _, h := range append([]string{u.PasswordHash}, u.PasswordHistory...) {
			if ok, _ := verify(h, newPassword); ok {
				violations = append(violations, p.Explain(directory.ReasonHistory))
				break
			}
		}
	}
	if len(violations) > 0 {
		return &directory.PolicyError{Violations: violations}
	}
	hash, err := Hash(newPassword)
	if err != nil {
		return err
	}
	now := d.now()
	return d.update(i, func(u *UserFile) {
		if p.HistoryLength > 0 {
			u.PasswordHistory = append([]string{u.PasswordHash}, u.PasswordHistory...)
			if len(u.PasswordHistory) > p.HistoryLength-1 {
				u.PasswordHistory = u.PasswordHistory[:max(p.HistoryLength-1, 0)]
			}
		}
		u.PasswordHash, u.PasswordChangedAt, u.MustChange = hash, now, false
	})
}

// Unlock implements directory.Unlocker.
func (d *Directory) Unlock(_ context.Context, user *directory.User) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := d.byID(user.ID)
	if err != nil {
		return err
	}
	return d.update(i, func(u *UserFile) { u.LockedUntil, u.BadPasswordCount = time.Time{}, 0 })
}

// Ensure the interfaces are met.
var (
	_ directory.Directory            = (*Directory)(nil)
	_ directory.PasswordChanger      = (*Directory)(nil)
	_ directory.PasswordResetter     = (*Directory)(nil)
	_ directory.Unlocker             = (*Directory)(nil)
	_ directory.PolicyReader         = (*Directory)(nil)
	_ directory.IDLookup             = (*Directory)(nil)
	_ directory.CheckedAuthenticator = (*Directory)(nil)
	_ directory.DomainPolicyReader   = (*Directory)(nil)
)
