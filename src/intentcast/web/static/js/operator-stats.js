// The operator's stats panel: every few seconds, fetch /operator/stats.json (same origin,
// the operator's session cookie) and write each number into the element whose
// data-stat names its path ("intents.open", "backlogs.streams.0.length"). Paused while
// the tab is hidden; a failed fetch leaves the numbers as they are until the next one.
(function () {
  "use strict";

  var panel = document.getElementById("stats");
  if (!panel || !window.fetch) { return; }
  var url = panel.getAttribute("data-stats-url");
  var every = Math.max(2, parseInt(panel.getAttribute("data-refresh-s"), 10) || 5) * 1000;

  function at(data, path) {
    return path.split(".").reduce(function (value, key) {
      return value === null || value === undefined ? undefined : value[key];
    }, data);
  }

  var formats = {
    seconds: function (v) { return v === null || v === undefined ? "—" : v.toFixed(3) + " s"; },
    time: function (v) { return String(v).slice(11, 19); },
    hour: function (v) { return String(v).slice(5, 10) + " " + String(v).slice(11, 13) + ":00"; },
    groups: function (v) {
      if (!v || !v.length) { return "—"; }
      return v.map(function (g) {
        return g.name + ": " + g.pending + " pending, lag " + (g.lag === null ? "—" : g.lag);
      }).join("; ");
    }
  };

  function show(data) {
    var cells = panel.querySelectorAll("[data-stat]");
    Array.prototype.forEach.call(cells, function (cell) {
      var value = at(data, cell.getAttribute("data-stat"));
      var format = formats[cell.getAttribute("data-format")];
      if (value === undefined && !format) { return; }
      var text = format ? format(value) : String(value);
      if (cell.textContent !== text) { cell.textContent = text; }
    });
    panel.setAttribute("data-refreshed", String(Date.now()));
    var note = panel.querySelector("[data-live-note]");
    if (note) { note.hidden = false; }
  }

  function refresh() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok || !/json/.test(response.headers.get("content-type") || "")) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(show)
      .catch(function () { /* the next tick tries again */ });
  }

  window.setInterval(refresh, every);
  refresh();
})();
