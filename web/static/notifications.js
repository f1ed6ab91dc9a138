/* The bell in the console's header: the unread count and the newest notifications, fetched
   every data-notify-ms (3 s) without a reload; a new one also shows for a few seconds as a
   toast (read out by screen readers), and opening it marks it read. */
(function () {
  "use strict";
  var bell = document.getElementById("bell");
  if (!bell) return;
  var count = bell.querySelector(".count");
  var panel = document.getElementById("bell-panel");
  var toasts = document.getElementById("toasts");
  var csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";
  var last = 0;
  var first = true;
  function show(unread) {
    count.textContent = String(unread);
    bell.classList.toggle("has-unread", unread > 0);
    bell.setAttribute("aria-label", "通知，未读 " + unread + " 条");
  }
  function line(item) {
    var li = document.createElement("li");
    li.className = item.kind + (item.read ? "" : " unread");
    li.dataset.id = String(item.id);
    var label = document.createElement("span");
    label.className = "meta";
    label.textContent = item.label + " · " + (item.at || "").slice(5, 16).replace("T", " ");
    var link = document.createElement("a");
    link.textContent = item.text;
    link.href = item.ticket ? "/console/tickets/" + encodeURIComponent(item.ticket) : "/console/notifications";
    link.addEventListener("click", function () { markRead(item.id); });
    li.appendChild(label);
    li.appendChild(link);
    return li;
  }
  function toast(item) {
    var box = document.createElement("div");
    box.className = "toast " + item.kind;
    var list = document.createElement("ul");
    list.appendChild(line(item));
    box.appendChild(list);
    toasts.appendChild(box);
    setTimeout(function () { box.remove(); }, 8000);
  }
  function markRead(id) {
    var body = new FormData();
    body.append("csrf", csrf);
    if (id) body.append("id", String(id));
    return fetch("/console/notifications/read", {
      method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (reply) { return reply.ok ? reply.json() : null; })
      .then(function (answer) { if (answer) show(answer.unread); })
      .catch(function () {});
  }
  function poll() {
    fetch("/console/notifications.json?after=" + last, { credentials: "same-origin", cache: "no-store" })
      .then(function (reply) { return reply.ok && !reply.redirected ? reply.json() : null; })
      .then(function (answer) {
        if (!answer) return;
        show(answer.unread);
        var list = panel.querySelector("ul");
        answer.items.slice().reverse().forEach(function (item) {
          last = Math.max(last, item.id);
          list.insertBefore(line(item), list.firstChild);
          if (!first && !item.read) toast(item);
        });
        while (list.children.length > 20) list.removeChild(list.lastChild);
        first = false;
        document.body.dataset.notified = String(Date.now());
      })
      .catch(function () { /* offline for a moment: the next round tries again */ });
  }
  bell.addEventListener("click", function (event) {
    event.preventDefault();
    panel.hidden = !panel.hidden;
  });
  var all = document.getElementById("bell-read-all");
  if (all) all.addEventListener("click", function () {
    markRead(null).then(function () {
      panel.querySelectorAll("li.unread").forEach(function (li) { li.classList.remove("unread"); });
    });
  });
  poll();
  setInterval(poll, Number(document.body.dataset.notifyMs || 3000));
})();
