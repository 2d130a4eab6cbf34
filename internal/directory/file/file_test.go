package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/directorytest"
)

// harness edits the YAML file the way an administrator would; the
// directory picks each edit up from disk.
type harness struct {
	path string
	d    *Directory
	n    atomic.Int64
}

func newHarness(t *testing.T, policy PolicyFile) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yaml")
	out, _ := yaml.Marshal(File{Policy: policy})
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{path: path, d: d}
}

func (h *harness) edit(t *testing.T, fn func(f *File)) {
	t.Helper()
	raw, err := os.ReadFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	var f File
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	fn(&f)
	out, _ := yaml.Marshal(f)
	// The directory reloads on a changed size or modification time; make
	// sure one of them changes even within a coarse clock tick.
	out = append(out, []byte(fmt.Sprintf("# edit %d\n", h.n.Add(1)))...)
	if err := os.WriteFile(h.path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) editUser(t *testing.T, a directorytest.Account, fn func(u *UserFile)) {
	t.Helper()
	h.edit(t, func(f *File) {
		for i := range f.Users {
			if f.Users[i].Username == a.Username {
				fn(&f.Users[i])
				return
			}
		}
		t.Fatalf("no user %s", a.Username)
	})
}

func (h *harness) Directory() directory.Directory { return h.d }

func (h *harness) NewUser(t *testing.T, password string) directorytest.Account {
	t.Helper()
	n := h.n.Add(1)
	a := directorytest.Account{
		Username: fmt.Sprintf("user%d", n), UPN: fmt.Sprintf("user%d@corp.example.test", n),
		Mail: fmt.Sprintf("user%d.mail@corp.example.test", n), Password: password,
	}
	hash, err := Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	h.edit(t, func(f *File) {
		f.Users = append(f.Users, UserFile{ID: newID(), Username: a.Username, UPN: a.UPN, Mail: a.Mail,
			DisplayName: "Test User", PasswordHash: hash, PasswordChangedAt: time.Now(), Groups: []string{"CN=Team,OU=G", "CN=All,OU=G"}})
	})
	return a
}

func (h *harness) Disable(t *testing.T, a directorytest.Account) {
	h.editUser(t, a, func(u *UserFile) { u.Disabled = true })
}

func (h *harness) MustChange(t *testing.T, a directorytest.Account) {
	h.editUser(t, a, func(u *UserFile) { u.MustChange = true })
}

func (h *harness) ExpireAccount(t *testing.T, a directorytest.Account) {
	h.editUser(t, a, func(u *UserFile) { u.Expires = time.Now().Add(-time.Hour) })
}

func (h *harness) ExpirePassword(t *testing.T, a directorytest.Account) {
	h.editUser(t, a, func(u *UserFile) { u.PasswordChangedAt = time.Now().Add(-400 * 24 * time.Hour) })
}

func (h *harness) LockOut(t *testing.T, a directorytest.Account) {
	for range 3 {
		if _, err := h.d.Authenticate(context.Background(), a.Username, "wrong-password"); !errors.Is(err, directory.ErrInvalidCredentials) && !errors.Is(err, directory.ErrAccountLocked) {
			t.Fatalf("bad sign-in: %v", err)
		}
	}
}

func (h *harness) NewUserInNestedGroup(t *testing.T, password string) (directorytest.Account, string, string) {
	return h.NewUser(t, password), "CN=Team,OU=G", "CN=All,OU=G"
}

func TestFileDirectoryBehaves(t *testing.T) {
	h := newHarness(t, PolicyFile{MinLength: 12, Complexity: true, HistoryLength: 3, MaxAge: 365 * 24 * time.Hour,
		LockoutThreshold: 3, LockoutDuration: time.Hour})
	directorytest.Run(t, h)
}

func TestAMissingIDIsGeneratedAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	hash, _ := Hash(directorytest.PasswordA)
	if err := os.WriteFile(path, []byte("users:\n  - username: dave\n    password_hash: "+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.Authenticate(context.Background(), "dave", directorytest.PasswordA)
	if err != nil || len(u.ID) != 32 {
		t.Fatalf("Authenticate = %+v, %v", u, err)
	}
	d2, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	u2, _ := d2.LookupUser(context.Background(), "dave")
	if u2.ID != u.ID {
		t.Errorf("ID changed across opens: %s then %s", u.ID, u2.ID)
	}
}

func TestAFailedWriteChangesNothing(t *testing.T) {
	h := newHarness(t, DefaultPolicy())
	a := h.NewUser(t, directorytest.PasswordA)
	u, err := h.d.LookupUser(context.Background(), a.Username)
	if err != nil {
		t.Fatal(err)
	}
	h.d.rename = func(string, string) error { return errors.New("disk full") }
	if err := h.d.ResetPassword(context.Background(), u, directorytest.PasswordB); err == nil {
		t.Fatal("reset succeeded although the file could not be written")
	}
	if _, err := h.d.Authenticate(context.Background(), a.Username, directorytest.PasswordA); err != nil {
		t.Errorf("old password stopped working after a failed write: %v", err)
	}
	h.d.rename = os.Rename
	if _, err := h.d.Authenticate(context.Background(), a.Username, directorytest.PasswordB); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("the new password works although its write failed: %v", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(h.path), ".users-*")); len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestHashesAreArgon2idAndHostileParametersAreRefused(t *testing.T) {
	h, err := Hash("pw")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash = %q, %v", h, err)
	}
	if ok, err := verify(h, "pw"); !ok || err != nil {
		t.Errorf("verify(correct) = %v, %v", ok, err)
	}
	if ok, _ := verify(h, "pW"); ok {
		t.Error("verify accepted a wrong password")
	}
	hostile := strings.Replace(h, "m=19456", "m=99999999", 1)
	if _, err := verify(hostile, "pw"); err == nil {
		t.Error("verify accepted a memory parameter that would exhaust the machine")
	}
	for _, bad := range []string{"", "plaintext", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "$argon2id$v=19$m=8,t=1,p=1$!!$!!"} {
		if _, err := verify(bad, "pw"); err == nil {
			t.Errorf("verify(%q) gave no error", bad)
		}
	}
}

func TestAnInvalidFileIsRefusedWithItsProblem(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"unknown key", "users:\n  - username: a\n    pasword_hash: x\n", "pasword_hash"},
		{"duplicate login", "users:\n  - username: a\n  - username: b\n    mail: A\n", `"a" is used by more than one user`},
		{"no username", "users:\n  - mail: a@b\n", "has no username"},
		{"bad id", "users:\n  - username: a\n    id: xyz\n", "32 hex"},
		{"a password attribute", "users:\n  - username: a\n    attributes: {unicodePwd: [x]}\n", `users[0].attributes: "unicodePwd": never read for an app`},
		{"a bad attribute name", "users:\n  - username: a\n    attributes: {\"given name\": [x]}\n", `"given name": not an LDAP attribute name`},
		{"one attribute twice", "users:\n  - username: a\n    attributes: {Department: [x], department: [y]}\n", `"Department" and "department" are the same attribute`},
		{"too many values", "users:\n  - username: a\n    attributes: {otherTelephone: [" + strings.Repeat("1,", directory.MaxAttributeValues) + "1]}\n", `"otherTelephone" has 65 values`},
		{"a value too long", "users:\n  - username: a\n    attributes: {info: [" + strings.Repeat("x", directory.MaxAttributeValueLen+1) + "]}\n", `"info" has a value longer than`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.yaml")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(context.Background(), path, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestUsersCarryTheirAttributesKeyedInLowerCase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	hash, _ := Hash(directorytest.PasswordA)
	content := "users:\n" +
		"  - username: dave\n    password_hash: " + hash + "\n" +
		"    attributes:\n      Department: [Sales]\n      otherTelephone: [\"+49 30 1\", \"+49 30 2\"]\n" +
		"  - username: erin\n    password_hash: " + hash + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string][]string{"department": {"Sales"}, "othertelephone": {"+49 30 1", "+49 30 2"}}
	u, err := d.Authenticate(ctx, "dave", directorytest.PasswordA)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(u.Attributes) != fmt.Sprint(want) || u.Attribute("OtherTelephone")[1] != "+49 30 2" {
		t.Errorf("Attributes = %q, want %q", u.Attributes, want)
	}
	u.Attributes["department"][0] = "changed by a caller"
	// A write (here a reset) keeps them in the file.
	if err := d.ResetPassword(ctx, u, directorytest.PasswordB); err != nil {
		t.Fatal(err)
	}
	d2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if u, err = d2.LookupUser(ctx, "dave"); err != nil || fmt.Sprint(u.Attributes) != fmt.Sprint(want) {
		t.Errorf("after a write: %q, %v; want %q", u.Attributes, err, want)
	}
	if u, err = d2.LookupUser(ctx, "erin"); err != nil || u.Attributes != nil {
		t.Errorf("a user without attributes: %q, %v; want nil", u.Attributes, err)
	}
}
