// Submits a protocol message's form (WS-Federation wresult, SAML
// SAMLResponse or SAMLRequest) as soon as the page is parsed. A
// same-origin file, so the page works under script-src 'self'; with
// scripts off, the page shows a Continue button instead.
(function () {
  'use strict';
  var form = document.getElementById('autopost');
  if (form) {
    form.submit();
  }
})();
