// Shared by the intent and thread pages: listen to the buyer's own event stream
// (/events, Server-Sent Events) and, when something arrives, fetch the fresh
// server-rendered fragment into the region (one fetch per burst). Dialogs open and
// close with buttons carrying data-open-dialog / data-close-dialog.
(function () {
  "use strict";

  function swapper(region, urlOf) {
    var timer = null;
    return function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        if (region.querySelector("dialog[open]")) { return; }  // never under the buyer's hands
        fetch(urlOf(), { credentials: "same-origin" }).then(function (response) {
          if (!response.ok) { throw new Error("status " + response.status); }
          return response.text();
        }).then(function (html) {
          region.innerHTML = html;
          region.setAttribute("data-refreshed", String(Date.now()));
        }).catch(function () { /* the next event tries again */ });
      }, 250);
    };
  }

  function listen(types, onEvent) {
    if (!window.EventSource) { return null; }
    var source = new EventSource("/events");
    types.forEach(function (type) { source.addEventListener(type, onEvent); });
    source.addEventListener("open", function () {
      document.body.setAttribute("data-live", "open");
    });
    return source;
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog && dialog.showModal) { dialog.showModal(); }
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open) { open.close(); }
    }
  });

  window.intentcastLive = { swapper: swapper, listen: listen };
})();
