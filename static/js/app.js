// crmsync's own script: confirmations before actions that touch many records, and the admin's
// time zone for the server to show times in (a cookie; the next page uses it).
(function () {
  "use strict";
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
  }

  function ask(question, onYes) {
    var dialog = document.getElementById("confirm-dialog");
    dialog.querySelector("[data-confirm-text]").textContent = question;
    dialog.returnValue = "";
    dialog.onclose = function () { if (dialog.returnValue === "yes") { onYes(); } };
    dialog.showModal();
    dialog.querySelector("button[value=no]").focus();
  }

  // Plain forms: <form data-confirm="..."> (or a submit button with data-confirm).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (!question || form.dataset.confirmed === "yes" || form.hasAttribute("hx-confirm")) { return; }
    event.preventDefault();
    ask(question, function () {
      form.dataset.confirmed = "yes";
      form.requestSubmit(button || undefined);
      delete form.dataset.confirmed;
    });
  });

  // htmx forms: hx-confirm="..." asks in the same dialog instead of window.confirm.
  document.addEventListener("htmx:confirm", function (event) {
    if (!event.detail.question) { return; }
    event.preventDefault();
    ask(event.detail.question, function () { event.detail.issueRequest(true); });
  });
})();
