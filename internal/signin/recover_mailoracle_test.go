package signin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// poisonFactors fails the send for one account only (notify.ErrRecipient), as a mail that can
// never go out for that account does: a display name net/mail cannot
// parse (see internal/notify's TestAMailIsSentWhateverTheDisplayNameHolds),
// or a relay answering 550 for that one mailbox. The mail server is fine.
type poisonFactors struct {
	*mailingFactors
	poison string
}

func (p *poisonFactors) RecoveryChallenge(ctx context.Context, u *directory.User, method, purpose, lang string) ([]byte, string, error) {
	if method == "email" && u.SAMAccountName == p.poison {
		// As FactorSet passes emailcode's answer on: the challenge no
		// mail carried, and the recipient error.
		pending, dest, err := p.mailingFactors.RecoveryChallenge(ctx, u, method, purpose, lang)
		return pending, dest, errors.Join(err, fmt.Errorf("emailcode: %w: mail: no angle-addr", notify.ErrRecipient))
	}
	return p.mailingFactors.RecoveryChallenge(ctx, u, method, purpose, lang)
}

// Found by an outside attack pass on a running instance: one account whose
// send fails sets the process-wide "mail is failing" state that decoys copy,
// and only a real send that goes out clears it. After a send for that
// account, a real login answers 200 "we sent a code" and an unknown one 503
// "couldn't send": whoever knows one such account can tell which logins
// exist.
func TestOneAccountWhoseMailFailsDoesNotTellRealFromUnknownLogins(t *testing.T) {
	withMail := func(u *file.UserFile) { u.Mail = u.Username + "@corp.example.test" }
	e := newEnv(t, "none", user(t, "alice", alicePW, withMail), user(t, "carol", alicePW, withMail))
	mf := &mailingFactors{recoveringFactors: &recoveringFactors{fakeFactors: e.factors}}
	e.engine.factors = &poisonFactors{mailingFactors: mf, poison: "carol"}
	e.engine.padWait = (&padTargets{}).wait
	mux := http.NewServeMux()
	e.engine.MountRecovery(mux, Recovery{Kind: "reset", Path: "/password/reset", Title: "reset.title", Intro: "reset.intro",
		Event: "password.reset", Purpose: "reset", NewPassword: true, Policy: policy.Settings{}, DecoyKey: []byte("decoy"),
		MailDomain: "corp.example.test", Ending: &countingEnding{}})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	send := func(login string) int {
		b := browse.New(t, srv.URL)
		b.Get("/password/reset")
		b.Submit(map[string]string{"login": login})
		b.Get(b.URL + "&method=email")
		b.Submit(map[string]string{"send": "1"})
		return b.Status
	}
	send("carol")
	existing := send("alice")
	send("carol")
	unknown := send("anna")
	if existing != unknown {
		t.Errorf("after a send for the account whose mail fails, a real login gets %d and an unknown one %d: the email step tells which logins exist", existing, unknown)
	}
}
