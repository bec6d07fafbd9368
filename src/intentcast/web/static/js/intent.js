// The intent page: offers arrive, change and go without a reload (the buyer's event
// stream triggers a fetch of the ranked list in the chosen order); the sort menu applies
// at once.
(function () {
  "use strict";
  var region = document.getElementById("offers");
  var live = window.intentcastLive;
  if (!region || !live) { return; }
  var sort = document.getElementById("sort");
  var base = region.getAttribute("data-offers-url").split("?")[0];
  function url() { return base + "?sort=" + encodeURIComponent(sort ? sort.value : "price"); }
  var refresh = live.swapper(region, url);
  live.listen(["offer.created", "offer.updated", "offer.withdrawn", "message.created"], refresh);
  if (sort) {
    sort.addEventListener("change", function () {
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", window.location.pathname + "?sort=" + sort.value);
      }
      refresh();
    });
  }
})();
