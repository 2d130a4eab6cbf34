// logout.js runs the sign-out page (logout_fanout.html): it loads each
// application's sign-out in its hidden frame — a GET of the frame's
// data-src, or a POST of its form into the frame — and, once every frame
// has loaded or the page's data-wait milliseconds have passed, goes on:
// it submits the #logout-finish form or follows the #logout-finish link,
// or, without one, says the user is signed out (data-msg-done).
//
// It is served from /static/ (the CSP allows script-src 'self' only) and
// has no dependencies and no inline part. Without JavaScript the page
// loads the GET frames itself (<noscript>) and shows a Continue button.
// Whether an application really signed the user out cannot be seen from
// here: a frame's content is another origin's, and its load event fires
// for an error page too.
(function () {
  'use strict';

  var root = document.getElementById('logout-fanout');
  if (!root) {
    return;
  }
  var wait = parseInt(root.getAttribute('data-wait'), 10);
  if (!(wait >= 0)) {
    wait = 5000;
  }
  var done = false;

  function finish() {
    if (done) {
      return;
    }
    done = true;
    var next = document.getElementById('logout-finish');
    if (next && next.tagName === 'FORM') {
      next.submit();
      return;
    }
    if (next && next.tagName === 'A') {
      window.location.assign(next.href);
      return;
    }
    var status = document.getElementById('logout-status');
    if (status && status.getAttribute('data-msg-done')) {
      status.textContent = status.getAttribute('data-msg-done');
    }
  }

  var frames = Array.prototype.slice.call(root.querySelectorAll('iframe.logout-frame'));
  var pending = frames.length;
  function loaded() {
    pending -= 1;
    if (pending <= 0) {
      finish();
    }
  }
  frames.forEach(function (frame) {
    var counted = false;
    frame.addEventListener('load', function () {
      // An empty frame's about:blank does not count: only the
      // application's answer does.
      if (counted || (!frame.getAttribute('src') && !frame.hasAttribute('data-posted'))) {
        return;
      }
      counted = true;
      loaded();
    });
  });
  frames.forEach(function (frame) {
    var src = frame.getAttribute('data-src');
    if (src) {
      frame.setAttribute('src', src);
    }
  });
  Array.prototype.forEach.call(root.querySelectorAll('form.logout-frame-form'), function (form) {
    var frame = document.querySelector('iframe[name="' + form.getAttribute('target') + '"]');
    if (frame) {
      frame.setAttribute('data-posted', '');
    }
    form.submit();
  });
  if (pending === 0) {
    finish();
    return;
  }
  window.setTimeout(finish, wait);
})();
