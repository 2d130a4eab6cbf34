// password.js checks a new password against the page's rules as the user
// types. It is served from /static/ (the CSP allows script-src 'self' only)
// and has no dependencies and no inline part. The server checks everything
// again on submit; this script only saves the user a round trip.
//
// The page (templates/_new_password.html) lists the rules:
//
//   <ul id="rules" data-names="asmith,alice,smith">
//     <li data-rule="min_length" data-value="12">…</li>
//     <li data-rule="complexity" data-value="3">…</li>
//     <li data-rule="name">…</li>
//     <li data-rule="history">…</li>   (only the directory knows: not checked)
//     <li data-rule="strength">…</li>  (asked of POST /password/strength)
//   </ul>
//
// Each checked rule gets data-state="met" or "unmet" (empty while the field
// is empty). The server's strength verdict is announced in #strength, and a
// confirmation that does not match in #confirm-status (both live regions).
(function () {
  'use strict';

  var input = document.getElementById('new_password');
  var list = document.getElementById('rules');
  if (!input || !list) {
    return;
  }
  var confirmInput = document.getElementById('confirm_password');
  var confirmOut = document.getElementById('confirm-status');
  var strengthOut = document.getElementById('strength');
  var form = input.form;
  var names = (list.getAttribute('data-names') || '').split(',').filter(function (n) { return n.length >= 3; });

  // AD's character classes, as internal/directory counts them.
  function classes(s) {
    var upper = false, lower = false, digit = false, other = false;
    Array.from(s).forEach(function (ch) {
      if (/\p{Lu}/u.test(ch)) { upper = true; }
      else if (/\p{Ll}/u.test(ch)) { lower = true; }
      else if (/\p{Nd}/u.test(ch)) { digit = true; }
      else { other = true; }
    });
    return [upper, lower, digit, other].filter(Boolean).length;
  }

  var checks = {
    min_length: function (pw, v) { return Array.from(pw).length >= Number(v); },
    complexity: function (pw, v) { return classes(pw) >= Number(v); },
    name: function (pw) {
      var low = pw.toLowerCase();
      return !names.some(function (n) { return low.indexOf(n) >= 0; });
    }
  };

  function rule(kind) { return list.querySelector('li[data-rule="' + kind + '"]'); }

  function setState(li, state) {
    if (li) { li.setAttribute('data-state', state); }
  }

  var timer = null;
  var asked = '';
  function askStrength(pw) {
    var li = rule('strength');
    if (!li || !form) { return; }
    clearTimeout(timer);
    if (pw === '') { setState(li, ''); strengthOut.textContent = ''; return; }
    timer = setTimeout(function () {
      asked = pw;
      var token = form.querySelector('input[name="csrf_token"]');
      var body = new URLSearchParams();
      body.set('password', pw);
      fetch('/password/strength', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': token ? token.value : '' },
        body: body
      }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (ans) {
        if (!ans || asked !== input.value) { return; } // stale or refused: say nothing
        setState(li, ans.ok ? 'met' : 'unmet');
        strengthOut.textContent = ans.ok ? '' : ans.message;
      }).catch(function () { /* offline: the server checks on submit */ });
    }, 400);
  }

  function update() {
    var pw = input.value;
    Object.keys(checks).forEach(function (kind) {
      var li = rule(kind);
      if (li) { setState(li, pw === '' ? '' : (checks[kind](pw, li.getAttribute('data-value')) ? 'met' : 'unmet')); }
    });
    askStrength(pw);
    updateConfirm();
  }

  function updateConfirm() {
    if (!confirmInput || !confirmOut) { return; }
    var mismatch = confirmInput.value !== '' && confirmInput.value !== input.value;
    confirmOut.textContent = mismatch ? (confirmOut.getAttribute('data-msg-mismatch') || '') : '';
  }

  input.addEventListener('input', update);
  if (confirmInput) { confirmInput.addEventListener('input', updateConfirm); }
  // A page shown again after a refusal may keep the new password (it was
  // right, the confirmation was not): its rules are shown checked at once.
  if (input.value !== '') { update(); }
  list.setAttribute('data-live', 'true'); // tests wait on this
})();
