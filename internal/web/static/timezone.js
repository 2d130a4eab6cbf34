// timezone.js tells Gatehouse the browser's time zone, so /account shows
// times in the user's own zone: it keeps the IANA name
// (Intl.DateTimeFormat().resolvedOptions().timeZone) in the gh_tz cookie,
// which the server reads when it renders times (ui.time_zone until then).
// It runs on every page, so the cookie is set by the time a signed-in
// page shows a time. The zone is a preference, not a secret.
(function () {
  'use strict';
  var tz;
  try {
    tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!tz || !/^[A-Za-z][A-Za-z0-9_+\-]*(\/[A-Za-z0-9_+\-]+){0,2}$/.test(tz) || tz.length > 64) {
    return;
  }
  if (document.cookie.split('; ').indexOf('gh_tz=' + tz) >= 0) {
    return;
  }
  document.cookie = 'gh_tz=' + tz + '; Path=/; Max-Age=31536000; SameSite=Lax' +
    (location.protocol === 'https:' ? '; Secure' : '');
})();
