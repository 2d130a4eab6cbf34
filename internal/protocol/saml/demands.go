package saml

import "slices"

// passwordClasses are the classes a password sign-in meets.
var passwordClasses = []string{ClassPasswordProtectedTransport, ClassPassword, ClassUnspecified}

// Demands is what a RequestedAuthnContext asks of the sign-in, as the
// policy's input: whether a second factor is needed, and which class the
// assertion then states.
type Demands struct {
	// MFA: the request can only be met with a second factor.
	MFA bool
	// Satisfiable is false when no sign-in Gatehouse can do meets the
	// request (a class it does not know, or "better" than MFA): the SP is
	// answered NoAuthnContext.
	Satisfiable bool
	// Classes are the requested classes Gatehouse can state, in the
	// request's order (empty when the request names none).
	Classes []string
	// Comparison is the request's, "exact" when absent.
	Comparison string
}

// DemandsOf reads a RequestedAuthnContext (classes and comparison). Only
// class references count; declarations are not supported.
func DemandsOf(classes []string, comparison string) Demands {
	if comparison == "" {
		comparison = "exact"
	}
	d := Demands{Comparison: comparison, Satisfiable: true}
	if len(classes) == 0 {
		return d
	}
	var mfa, pwd []string
	for _, c := range classes {
		switch {
		case slices.Contains(mfaClasses, c):
			mfa = append(mfa, c)
		case slices.Contains(passwordClasses, c):
			pwd = append(pwd, c)
		}
	}
	switch comparison {
	case "minimum":
		// At least as strong as one of them: a password meets a password
		// class; an MFA class needs MFA.
		d.MFA = len(pwd) == 0 && len(mfa) > 0
		d.Satisfiable = len(pwd)+len(mfa) > 0
	case "better":
		// Stronger than one of them: better than a password is MFA;
		// nothing Gatehouse does is better than MFA.
		d.MFA = true
		d.Satisfiable = len(pwd) > 0
		pwd = nil // a password is not better than a password
	case "maximum":
		// No stronger than one of them: a password meets it; MFA only if
		// an MFA class allows it.
		d.Satisfiable = len(pwd)+len(mfa) > 0
	default: // exact
		d.MFA = len(pwd) == 0 && len(mfa) > 0
		d.Satisfiable = len(pwd)+len(mfa) > 0
	}
	d.Classes = append(pwd, mfa...)
	if d.MFA {
		d.Classes = mfa
	}
	return d
}

// Class is the AuthnContextClassRef an assertion states for a sign-in
// that did (mfa) or did not use a second factor: one the request named
// when it named any Gatehouse meets, else the REFEDS MFA profile after
// MFA (for Entra always its multipleauthn), and PasswordProtectedTransport without.
// A "maximum" of password classes after MFA states the password class: the
// request allows nothing stronger to be claimed.
func (d Demands) Class(mfa, entra bool) string {
	if mfa && entra {
		// Entra reads this one value as the MFA claim (ENTRA.md).
		return ClassMultipleAuthN
	}
	if mfa {
		for _, c := range d.Classes {
			if slices.Contains(mfaClasses, c) {
				return c
			}
		}
	}
	for _, c := range d.Classes {
		if slices.Contains(passwordClasses, c) {
			return c
		}
	}
	if mfa && d.Comparison != "maximum" {
		return ClassREFEDSMFA
	}
	return ClassPasswordProtectedTransport
}
