// Filter forms: leave the fields that are empty out of the URL, so a shared link reads
// "?environment=production" rather than "?q=&project=&environment=production&since=".
// Without JavaScript the empty parameters are sent and ignored by the server.
(function () {
  "use strict";
  document.querySelectorAll("form.filters").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (field) {
        if (field.name && field.value === "") {
          field.disabled = true;
        }
      });
    });
  });
  // Back to the page after a submit: the browser may restore the disabled state.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.filters [disabled]").forEach(function (field) {
      field.disabled = false;
    });
  });
})();
