/* Parts of a console page refresh themselves without a full reload: the queue (its table and
   counts, keeping the filters) and every section marked data-live (the supervisor's live
   view), every data-refresh-ms (20 s on the queue, 5 s on the live view). */
(function () {
  "use strict";
  var table = document.getElementById("queue");
  var live = document.querySelectorAll("[data-live][id]");
  if (!table && !live.length) return;
  function swap(fresh, selector) {
    var now = document.querySelector(selector);
    var next = fresh.querySelector(selector);
    if (now && next) now.replaceWith(next);
  }
  function refresh() {
    fetch(location.href, { credentials: "same-origin", cache: "no-store" }).then(function (reply) {
      if (!reply.ok || reply.redirected) return null;
      return reply.text();
    }).then(function (html) {
      if (!html) return;
      var fresh = new DOMParser().parseFromString(html, "text/html");
      if (table) {
        swap(fresh, "#queue tbody");
        swap(fresh, ".counts");
      }
      live.forEach(function (section) { swap(fresh, "#" + section.id); });
      document.body.dataset.refreshed = String(Date.now());
    }).catch(function () { /* offline for a moment: the next round tries again */ });
  }
  setInterval(refresh, Number(document.body.dataset.refreshMs || 20000));
})();
