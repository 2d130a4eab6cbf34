// Fixes the clock the validators check validity windows with: every
// `new Date()` and `Date.now()` in this process answers the given instant,
// while `new Date(x)` still parses x.
'use strict';

module.exports = function fixClock(iso) {
  const fixed = Date.parse(iso);
  if (Number.isNaN(fixed)) {
    throw new Error('now: not a date: ' + iso);
  }
  const RealDate = Date;
  class FixedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) {
        super(fixed);
      } else {
        super(...args);
      }
    }
    static now() {
      return fixed;
    }
  }
  globalThis.Date = FixedDate;
};
