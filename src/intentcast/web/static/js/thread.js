// The conversation page: the vendor's messages appear without a reload.
(function () {
  "use strict";
  var region = document.getElementById("messages");
  var live = window.intentcastLive;
  if (!region || !live) { return; }
  var url = region.getAttribute("data-messages-url");
  live.listen(["message.created"], live.swapper(region, function () { return url; }));
})();
