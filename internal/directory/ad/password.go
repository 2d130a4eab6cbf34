package ad

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// LDAP_SERVER_POLICY_HINTS: a reset carrying it is checked against the
// password history too (Windows). Sent only to a DC that lists it in its
// RootDSE supportedControl; Samba 4.17 lists neither OID.
const (
	oidPolicyHints           = "1.2.840.113556.1.4.2239"
	oidPolicyHintsDeprecated = "1.2.840.113556.1.4.2066"
)

// policyHintsValue is the control value SEQUENCE { INTEGER 1 }.
var policyHintsValue = string([]byte{0x30, 0x03, 0x02, 0x01, 0x01})

// errPlaintext refuses a password write over a connection without TLS. The
// dialer never hands one out; this is the second lock on the same door.
var errPlaintext = errors.New("ad: refusing to send a password over a connection that is not encrypted")

// EncodePassword is the unicodePwd value: the password in double quotes,
// UTF-16LE.
func EncodePassword(pw string) string {
	units := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	return string(b)
}

// modifyEncrypted sends a Modify that carries a password, only over TLS.
func modifyEncrypted(ctx context.Context, c ldapConn, req *ldap.ModifyRequest) error {
	if !c.Encrypted() {
		return errPlaintext
	}
	return c.Modify(ctx, req)
}

// ChangePassword changes u's password knowing the old one: one Modify that
// deletes the old unicodePwd value and adds the new one, on a service
// connection (so it also works for a user who cannot bind: must-change,
// expired). AD checks the old password, history, minimum age and
// complexity; the account/display-name rule, which Samba does not enforce,
// is checked here before anything is sent. The write is not retried once it
// may have reached a DC: a second delete+add could fail confusingly after
// the first one succeeded.
func (d *Directory) ChangePassword(ctx context.Context, u *directory.User, oldPassword, newPassword string) error {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	if oldPassword == "" {
		return fmt.Errorf("ad: change password: %w", directory.ErrWrongPassword)
	}
	st, err := d.readPasswordState(ctx, u)
	if err != nil {
		return fmt.Errorf("ad: change password: %w", err)
	}
	if v := st.policy.Check(newPassword, st.user); len(v) > 0 {
		return &directory.PolicyError{Violations: v}
	}
	req := ldap.NewModifyRequest(st.user.DN, nil)
	req.Delete("unicodePwd", []string{EncodePassword(oldPassword)})
	req.Add("unicodePwd", []string{EncodePassword(newPassword)})
	err = d.run(ctx, runOpts{kind: servicePool, name: "change_password", noResend: true},
		func(ctx context.Context, c ldapConn, _ *dc) error { return modifyEncrypted(ctx, c, req) })
	switch {
	case err == nil:
		d.log.InfoContext(ctx, "password changed", "event", "password_change", "user", st.user.SAMAccountName)
		return nil
	case isTransport(err):
		return fmt.Errorf("ad: change password: %w", err)
	}
	switch classifyWrite(err) {
	case refusalWrongOld:
		return fmt.Errorf("ad: change password: %w", directory.ErrWrongPassword)
	case refusalPolicy:
		return d.explainRefusal(st, newPassword, true, false)
	}
	return fmt.Errorf("ad: change password: %w", err)
}

// ResetPassword sets u's password without the old one (one Modify replace),
// with LDAP_SERVER_POLICY_HINTS when the DC advertises it so that Windows
// enforces the history too. Length, complexity and the name rule are checked
// here first.
func (d *Directory) ResetPassword(ctx context.Context, u *directory.User, newPassword string) error {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	st, err := d.readPasswordState(ctx, u)
	if err != nil {
		return fmt.Errorf("ad: reset password: %w", err)
	}
	if v := st.policy.Check(newPassword, st.user); len(v) > 0 {
		return &directory.PolicyError{Violations: v}
	}
	hinted := false
	err = d.run(ctx, runOpts{kind: servicePool, name: "reset_password"}, func(ctx context.Context, c ldapConn, dc *dc) error {
		controls, err := d.policyHints(ctx, c, dc)
		if err != nil {
			return err
		}
		hinted = len(controls) > 0
		req := ldap.NewModifyRequest(st.user.DN, controls)
		req.Replace("unicodePwd", []string{EncodePassword(newPassword)})
		return modifyEncrypted(ctx, c, req)
	})
	switch {
	case err == nil:
		d.log.InfoContext(ctx, "password reset", "event", "password_reset", "user", st.user.SAMAccountName, "policy_hints", hinted)
		return nil
	case isTransport(err):
		return fmt.Errorf("ad: reset password: %w", err)
	case classifyWrite(err) == refusalPolicy:
		return d.explainRefusal(st, newPassword, false, hinted)
	}
	return fmt.Errorf("ad: reset password: %w", err)
}

// ResetChecksHistory reports whether a reset sent now carries the
// policy-hints control, so that the DC refuses a password from the
// history: whether the DC the reset would go to advertises it. (A reset
// that fails over to a DC without it skips the history check.)
func (d *Directory) ResetChecksHistory(ctx context.Context) (bool, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	hinted := false
	err := d.run(ctx, runOpts{kind: servicePool, name: "read"}, func(ctx context.Context, c ldapConn, dc *dc) error {
		controls, err := d.policyHints(ctx, c, dc)
		hinted = len(controls) > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ad: supported controls: %w", err)
	}
	return hinted, nil
}

// policyHints returns the policy-hints control for this DC if its RootDSE
// lists one (read once per DC, on the connection at hand).
func (d *Directory) policyHints(ctx context.Context, c ldapConn, dc *dc) ([]ldap.Control, error) {
	dc.mu.Lock()
	known := dc.controls
	dc.mu.Unlock()
	if known == nil {
		res, err := c.Search(ctx, rootDSERequest("supportedControl"))
		if err != nil {
			return nil, err
		}
		known = map[string]bool{}
		for _, e := range res.Entries {
			for _, oid := range e.GetEqualFoldAttributeValues("supportedControl") {
				known[oid] = true
			}
		}
		dc.mu.Lock()
		dc.controls = known
		dc.mu.Unlock()
	}
	for _, oid := range []string{oidPolicyHints, oidPolicyHintsDeprecated} {
		if known[oid] {
			return []ldap.Control{policyHintsControl(oid)}, nil
		}
	}
	return nil, nil
}

func policyHintsControl(oid string) ldap.Control {
	return &ldap.ControlString{ControlType: oid, Criticality: true, ControlValue: policyHintsValue}
}

// explainRefusal turns AD's wordless "0000052D" into the rule that was
// broken, from the policy read before the write. Length, complexity and
// names were checked before sending, so what is left is the minimum age (a
// change only) and the history (a change, or a reset with policy hints).
func (d *Directory) explainRefusal(st passwordState, newPassword string, change, hinted bool) error {
	p := st.policy
	if v := p.Check(newPassword, st.user); len(v) > 0 {
		return &directory.PolicyError{Violations: v}
	}
	var r directory.Reason
	switch {
	case change && p.MinAge > 0 && !st.user.State.PasswordLastSet.IsZero() &&
		d.now().Before(st.user.State.PasswordLastSet.Add(p.MinAge)):
		r = directory.ReasonTooYoung
	case (change || hinted) && p.HistoryLength > 0:
		r = directory.ReasonHistory
	default:
		r = directory.ReasonUnknownRefusal
	}
	return &directory.PolicyError{Violations: []directory.PolicyViolation{p.Explain(r)}}
}

// Unlock clears a lockout: lockoutTime := 0 (AD also resets badPwdCount).
func (d *Directory) Unlock(ctx context.Context, u *directory.User) error {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	if u == nil || u.DN == "" {
		return fmt.Errorf("ad: unlock: no user given")
	}
	req := ldap.NewModifyRequest(u.DN, nil)
	req.Replace("lockoutTime", []string{"0"})
	err := d.run(ctx, runOpts{kind: servicePool, name: "unlock"}, func(ctx context.Context, c ldapConn, _ *dc) error {
		return c.Modify(ctx, req)
	})
	if err != nil {
		return fmt.Errorf("ad: unlock %s: %w", u.DN, err)
	}
	d.log.InfoContext(ctx, "account unlocked", "event", "unlock", "user", u.SAMAccountName)
	return nil
}
