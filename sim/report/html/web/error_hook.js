// Runs before every other script of the report: records each error the page raises (uncaught
// exceptions, failed resources, rejected promises, console.error and console.warn) in
// window.__moesimErrors, which report.js publishes with its drawing status. The browser test
// (tests/browser) fails a report on any of them.
(function () {
  'use strict';
  var errors = [];
  window.__moesimErrors = errors;
  window.addEventListener('error', function (e) {
    var where = e.filename ? ' (' + e.filename + ':' + e.lineno + ')' : '';
    var what = e.message || (e.target && e.target.tagName ? 'failed to load ' + e.target.tagName : e.type);
    errors.push('error: ' + what + where);
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    errors.push('unhandled rejection: ' + e.reason);
  });
  ['error', 'warn'].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      errors.push('console.' + level + ': ' + Array.prototype.join.call(arguments, ' '));
      return original.apply(console, arguments);
    };
  });
})();
