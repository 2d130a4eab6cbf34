// webauthn.js runs the passkey and security-key ceremonies of Gatehouse's
// pages. It is served from /static/ (the CSP allows script-src 'self' only)
// and has no dependencies and no inline part.
//
// A page opts in with one form:
//
//   <form id="webauthn-form" method="post" data-webauthn="create|get|discover"
//         data-options="{options JSON from internal/mfa/webauthn}">
//     <input type="hidden" name="credential">
//     <button type="button" id="webauthn-start">…</button>
//   </form>
//
// "create" registers a credential, "get" signs in with one of the user's
// credentials, "discover" signs in with any passkey for this site
// (passwordless). The button starts the ceremony; "get" also starts on page
// load unless the page already shows an error, and "discover" also offers
// passkeys in the browser's autofill (conditional mediation) when a field
// has autocomplete="… webauthn". The result is put into the hidden
// "credential" field as JSON — base64url throughout, the shape of
// PublicKeyCredential.toJSON() that go-webauthn parses — and the form is
// submitted. A failure or cancellation is announced in a live region and
// the button can be used again.
//
// Messages are translated with attributes on the form: data-msg-cancelled,
// data-msg-exists, data-msg-unsupported, data-msg-address, data-msg-failed
// (the templates' "webauthn_messages" writes them from the catalog; the
// English here is the fallback). Not "security": html/template treats an
// attribute whose name contains "uri" as a URL and would escape it.
// The form's data-webauthn-state says where the ceremony is: idle, pending,
// submitted or error (tests wait on it).
(function () {
  'use strict';

  var MESSAGES = {
    cancelled: 'The passkey request was cancelled or timed out. Try again, or choose another method.',
    exists: 'This passkey or security key is already registered. Use another one.',
    unsupported: 'This browser cannot use passkeys. Choose another method.',
    address: 'Passkeys cannot be used at this address.',
    failed: 'The passkey could not be used. Try again, or choose another method.'
  };

  function toBuffer(s) {
    s = String(s).replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) {
      s += '=';
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toBase64url(buf) {
    var bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function descriptor(d) {
    return Object.assign({}, d, { id: toBuffer(d.id) });
  }

  // creationOptions turns the server's JSON into PublicKeyCredentialCreationOptions.
  function creationOptions(json) {
    var pk = Object.assign({}, json.publicKey || json);
    pk.challenge = toBuffer(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: toBuffer(pk.user.id) });
    if (pk.excludeCredentials) {
      pk.excludeCredentials = pk.excludeCredentials.map(descriptor);
    }
    return pk;
  }

  // requestOptions turns the server's JSON into PublicKeyCredentialRequestOptions.
  function requestOptions(json) {
    var pk = Object.assign({}, json.publicKey || json);
    pk.challenge = toBuffer(pk.challenge);
    if (pk.allowCredentials) {
      pk.allowCredentials = pk.allowCredentials.map(descriptor);
    }
    return pk;
  }

  // encodeValue base64url-encodes every binary value inside extension results.
  function encodeValue(v) {
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
      return toBase64url(v);
    }
    if (Array.isArray(v)) {
      return v.map(encodeValue);
    }
    if (v && typeof v === 'object') {
      var o = {};
      Object.keys(v).forEach(function (k) {
        o[k] = encodeValue(v[k]);
      });
      return o;
    }
    return v;
  }

  // serialise is PublicKeyCredential.toJSON(), written out for browsers
  // that lack it.
  function serialise(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: encodeValue(typeof cred.getClientExtensionResults === 'function' ? cred.getClientExtensionResults() : {}),
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      out.response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
      if (typeof r.getAuthenticatorData === 'function') {
        out.response.authenticatorData = toBase64url(r.getAuthenticatorData());
      }
      if (typeof r.getPublicKey === 'function') {
        var key = r.getPublicKey();
        if (key) {
          out.response.publicKey = toBase64url(key);
        }
      }
      if (typeof r.getPublicKeyAlgorithm === 'function') {
        out.response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
      }
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle && r.userHandle.byteLength) {
        out.response.userHandle = toBase64url(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  function messageFor(err) {
    switch (err && err.name) {
      case 'NotAllowedError':
      case 'AbortError':
        return 'cancelled';
      case 'InvalidStateError':
        return 'exists';
      case 'SecurityError':
        return 'address';
      case 'NotSupportedError':
        return 'unsupported';
    }
    return 'failed';
  }

  function init(form) {
    var mode = form.getAttribute('data-webauthn');
    var button = document.getElementById('webauthn-start');
    var field = form.querySelector('input[name="credential"]');
    if (!field || (mode !== 'create' && mode !== 'get' && mode !== 'discover')) {
      return;
    }

    // The live region exists, rendered and empty, before anything is
    // announced in it: screen readers miss text put into a region that
    // appears at the same moment.
    var status = document.createElement('p');
    status.id = 'webauthn-error';
    status.className = 'field-error';
    status.setAttribute('role', 'alert');
    status.setAttribute('aria-live', 'assertive');
    if (button && button.parentNode === form) {
      form.insertBefore(status, button);
    } else {
      form.appendChild(status);
    }

    function setState(s) {
      form.setAttribute('data-webauthn-state', s);
    }

    function show(key) {
      var text = form.getAttribute('data-msg-' + key) || MESSAGES[key];
      status.textContent = text;
      if (button) {
        button.setAttribute('aria-describedby', 'webauthn-error');
      }
    }

    function clear() {
      status.textContent = '';
    }

    if (!window.PublicKeyCredential || !navigator.credentials) {
      show('unsupported');
      setState('error');
      if (button) {
        button.disabled = true;
      }
      return;
    }

    var options;
    try {
      options = JSON.parse(form.getAttribute('data-options'));
    } catch (e) {
      show('failed');
      setState('error');
      return;
    }

    var busy = false;
    var conditional = null; // {controller, done} of a pending autofill request

    function submit(cred) {
      field.value = serialise(cred);
      setState('submitted');
      form.submit();
    }

    // run starts a modal ceremony; quiet leaves a failure unannounced (a
    // request started on page load that the browser refused).
    function run(quiet) {
      if (busy) {
        return Promise.resolve();
      }
      busy = true;
      clear();
      setState('pending');
      if (button) {
        button.disabled = true;
      }
      var before = conditional ? conditional.abort() : Promise.resolve();
      return before.then(function () {
        if (mode === 'create') {
          return navigator.credentials.create({ publicKey: creationOptions(options) });
        }
        return navigator.credentials.get({ publicKey: requestOptions(options) });
      }).then(function (cred) {
        if (!cred) {
          throw new DOMException('no credential', 'NotAllowedError');
        }
        submit(cred);
      }).catch(function (err) {
        busy = false;
        if (button) {
          button.disabled = false;
        }
        if (quiet) {
          setState('idle');
          return;
        }
        setState('error');
        show(messageFor(err));
      });
    }

    // autofill offers the site's passkeys in the username field's
    // suggestions; choosing one signs in.
    function autofill() {
      if (typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function' ||
          !document.querySelector('input[autocomplete~="webauthn"]')) {
        return;
      }
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok || busy) {
          return;
        }
        var controller = new AbortController();
        var done = navigator.credentials.get({
          publicKey: requestOptions(options),
          mediation: 'conditional',
          signal: controller.signal
        }).then(function (cred) {
          conditional = null;
          if (cred && !busy) {
            busy = true;
            submit(cred);
          }
        }, function () {
          conditional = null; // aborted, or the browser gave up: the button remains
        });
        conditional = {
          abort: function () {
            controller.abort();
            return done;
          }
        };
      }, function () {});
    }

    setState('idle');
    if (button) {
      button.addEventListener('click', function () {
        run(false);
      });
    }
    var showsError = Array.prototype.some.call(form.querySelectorAll('.field-error'), function (el) {
      return el !== status && el.textContent.trim() !== '';
    });
    if (mode === 'get' && !showsError) {
      run(true);
    } else if (mode === 'discover') {
      autofill();
    }
  }

  var form = document.getElementById('webauthn-form');
  if (form) {
    init(form);
  }
})();
