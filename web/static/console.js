/* The queue refreshes itself every 20 s without a full reload (and keeps the filters). */
(function () {
  "use strict";
  var table = document.getElementById("queue");
  if (!table) return;
  function refresh() {
    fetch(location.href, { credentials: "same-origin", cache: "no-store" }).then(function (reply) {
      if (!reply.ok || reply.redirected) return null;
      return reply.text();
    }).then(function (html) {
      if (!html) return;
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var body = fresh.querySelector("#queue tbody");
      var counts = fresh.querySelector(".counts");
      if (body) table.querySelector("tbody").replaceWith(body);
      if (counts) document.querySelector(".counts").replaceWith(counts);
      document.body.dataset.refreshed = String(Date.now());
    }).catch(function () { /* offline for a moment: the next round tries again */ });
  }
  setInterval(refresh, Number(document.body.dataset.refreshMs || 20000));
})();
