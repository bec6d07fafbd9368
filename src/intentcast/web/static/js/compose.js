// The compose page's live preview: as the buyer types, the form is sent to
// /intents/preview (same origin, with the page's CSRF token) and the server's rendering
// of "what vendors will see" replaces the preview region. Nothing is stored.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var target = document.getElementById("preview");
  if (!form || !target) { return; }
  var url = form.getAttribute("data-preview-url");
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var timer = null;
  var sent = 0;

  function ready() {
    return form.elements.category.value.trim() !== "" && form.elements.title.value.trim() !== "";
  }

  function refresh() {
    if (!ready()) { return; }
    var mine = ++sent;
    var body = new URLSearchParams(new FormData(form));
    fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": token }
    }).then(function (response) {
      return response.text();
    }).then(function (html) {
      if (mine === sent) {
        target.innerHTML = html;
        target.setAttribute("data-state", "ready");
      }
    }).catch(function () {
      target.textContent = "The preview is not available right now.";
    });
  }

  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  }

  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  refresh();
})();
