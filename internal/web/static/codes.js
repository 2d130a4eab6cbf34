// codes.js copies, downloads and prints what a user must keep: the
// authenticator app's key on the enrolment page and new recovery codes.
// It is served from /static/ (the CSP allows script-src 'self' only) and
// has no dependencies and no inline part. Every text it shows comes from
// the page (data-msg-* attributes written from the catalog).
//
//   <button data-copy="KEY" data-status="ID" data-msg-copied="…" data-msg-failed="…" hidden>
//     copies KEY;
//   <button data-copy-list="ID" data-status="ID" …> copies the list ID's
//     items, one a line;
//   <button data-download-list="ID" data-filename="NAME"> saves them as
//     NAME.txt, made here in the browser (a blob: URL, which the CSP does
//     not restrict: the codes never travel again);
//   <button data-print> prints the page (gatehouse.css prints only the
//     codes, the organisation's name and the date);
//   <span id="codes-date" data-msg-date="… {date} …"> gets today's date in
//     the page's language, for the printout.
//
// The buttons start hidden and are shown only when what they need is
// there; without JavaScript the key and the codes stay selectable text.
// The result of a copy is said in the status element (role="status").
(function () {
  'use strict';

  function items(id) {
    var list = document.getElementById(id);
    if (!list) {
      return [];
    }
    return Array.prototype.map.call(list.querySelectorAll('li'), function (li) {
      return li.textContent.trim();
    });
  }

  function say(button, key) {
    var status = document.getElementById(button.getAttribute('data-status'));
    if (!status) {
      return;
    }
    // Emptied first, so that copying twice is announced twice.
    status.textContent = '';
    window.setTimeout(function () {
      status.textContent = button.getAttribute('data-msg-' + key) || '';
    }, 50);
  }

  function copy(button, text) {
    navigator.clipboard.writeText(text).then(function () {
      say(button, 'copied');
    }, function () {
      say(button, 'failed');
    });
  }

  // fileName keeps a name that every file system accepts.
  function fileName(name) {
    name = String(name || '').replace(/[\\/:*?"<>|\u0000-\u001f]+/g, ' ').replace(/\s+/g, ' ').trim();
    return (name || 'recovery-codes') + '.txt';
  }

  function download(button) {
    var codes = items(button.getAttribute('data-download-list'));
    var blob = new Blob([codes.join('\r\n') + '\r\n'], { type: 'text/plain;charset=utf-8' });
    var url = URL.createObjectURL(blob);
    var a = document.createElement('a');
    a.href = url;
    a.download = fileName(button.getAttribute('data-filename'));
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    a.remove();
    // Revoked later, not now: the download may still be reading it.
    window.setTimeout(function () {
      URL.revokeObjectURL(url);
    }, 60000);
  }

  function show(el) {
    el.hidden = false;
    var group = el.closest('[data-code-actions]');
    if (group) {
      group.hidden = false;
    }
  }

  var canCopy = !!(navigator.clipboard && navigator.clipboard.writeText);
  var canDownload = typeof Blob === 'function' && !!(window.URL && URL.createObjectURL) &&
    'download' in document.createElement('a');

  Array.prototype.forEach.call(document.querySelectorAll('[data-copy]'), function (button) {
    if (!canCopy) {
      return;
    }
    button.addEventListener('click', function () {
      copy(button, button.getAttribute('data-copy'));
    });
    show(button);
  });

  Array.prototype.forEach.call(document.querySelectorAll('[data-copy-list]'), function (button) {
    if (!canCopy) {
      return;
    }
    button.addEventListener('click', function () {
      copy(button, items(button.getAttribute('data-copy-list')).join('\n'));
    });
    show(button);
  });

  Array.prototype.forEach.call(document.querySelectorAll('[data-download-list]'), function (button) {
    if (!canDownload) {
      return;
    }
    button.addEventListener('click', function () {
      download(button);
    });
    show(button);
  });

  Array.prototype.forEach.call(document.querySelectorAll('[data-print]'), function (button) {
    if (typeof window.print !== 'function') {
      return;
    }
    button.addEventListener('click', function () {
      window.print();
    });
    show(button);
  });

  var date = document.getElementById('codes-date');
  if (date) {
    var lang = document.documentElement.lang || undefined;
    var today;
    try {
      today = new Date().toLocaleDateString(lang, { year: 'numeric', month: 'long', day: 'numeric' });
    } catch (e) {
      today = new Date().toLocaleDateString();
    }
    date.textContent = (date.getAttribute('data-msg-date') || '{date}').replace('{date}', today);
  }
})();
