// Submits the form marked .autosubmit once the page has loaded (a file, not an inline script, for the CSP).
(function () {
  "use strict";
  var form = document.querySelector("form.autosubmit");
  if (form) { form.submit(); }
}());
