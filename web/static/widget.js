/* Dy 客服助手 support widget: socket.io to Rasa, history on reload, safe rendering.
 * Every text from users, bot and staff is inserted with textContent: never as HTML. */
(function () {
  "use strict";

  var config = window.DY_CONFIG || {};
  var rasaUrl = config.rasaUrl || (location.protocol + "//" + location.hostname + ":" + (config.rasaPort || 5005));
  var STORAGE_KEY = "dy-support-session";
  var TICKET_RE = /DY-\d{8}-\d{4,}/;
  var URL_RE = /(https?:\/\/[^\s<>"'，。；！？）】]+)/g;

  var messages = document.getElementById("messages");
  var statusBar = document.getElementById("status");
  var typing = document.getElementById("typing");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");

  function newSessionId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var sessionId = localStorage.getItem(STORAGE_KEY);
  var returning = !!sessionId && /^[a-f0-9]{32}$/.test(sessionId);
  if (!returning) {
    sessionId = newSessionId();
    localStorage.setItem(STORAGE_KEY, sessionId);
  }
  document.body.dataset.session = sessionId;

  function setStatus(state, text) {
    statusBar.className = "status " + state;
    statusBar.textContent = text || "";
    document.body.dataset.connection = state;
  }

  function scrollDown() { messages.scrollTop = messages.scrollHeight; }

  /* text -> nodes, with http(s) links as safe anchors */
  function appendText(parent, text) {
    var parts = String(text).split(URL_RE);
    parts.forEach(function (part, index) {
      if (index % 2 === 1) {
        var link = document.createElement("a");
        link.href = part;
        link.textContent = part;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        parent.appendChild(link);
      } else if (part) {
        parent.appendChild(document.createTextNode(part));
      }
    });
  }

  function addBubble(role, text, options) {
    options = options || {};
    var bubble = document.createElement("div");
    bubble.className = "msg " + role;
    var ticket = role === "bot" && text && TICKET_RE.exec(text);
    if (ticket && /工单/.test(text)) {
      bubble.classList.add("ticket");
      var index = text.indexOf(ticket[0]);
      appendText(bubble, text.slice(0, index));
      var strong = document.createElement("strong");
      strong.className = "ticket-no";
      strong.textContent = ticket[0];
      bubble.appendChild(strong);
      appendText(bubble, text.slice(index + ticket[0].length));
    } else if (text) {
      appendText(bubble, text);
    }
    if (role === "bot" && text && text.indexOf("【人工客服】") === 0) bubble.classList.add("staff");
    if (options.image && /^(https?:\/\/|\/static\/)/.test(options.image)) {
      var img = document.createElement("img");
      img.src = options.image;
      img.alt = "图片说明";
      bubble.appendChild(img);
    }
    messages.appendChild(bubble);
    if (options.buttons && options.buttons.length) addReplies(options.buttons, options.active !== false);
    scrollDown();
    return bubble;
  }

  function disableOldReplies() {
    Array.prototype.forEach.call(messages.querySelectorAll(".replies button"), function (b) { b.disabled = true; });
  }

  function addReplies(buttons, active) {
    var row = document.createElement("div");
    row.className = "replies";
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", "快捷回复");
    buttons.forEach(function (button) {
      var element = document.createElement("button");
      element.type = "button";
      element.textContent = button.title;
      element.disabled = !active;
      element.addEventListener("click", function () { send(button.payload, button.title); });
      row.appendChild(element);
    });
    messages.appendChild(row);
  }

  var typingTimer = null;
  function showTyping(on) {
    typing.hidden = !on;
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { typing.hidden = true; }, 20000);
  }

  var socket = io(rasaUrl, { transports: ["websocket"], reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 5000 });
  var confirmedOnce = false;

  function send(payload, shown) {
    var text = String(payload || "").trim();
    if (!text) return;
    if (!socket.connected) {
      setStatus("offline", "连接已断开，正在重新连接…消息将在连接恢复后再发送。");
      return;
    }
    disableOldReplies();
    if (shown !== null) addBubble("user", shown || text);
    socket.emit("user_uttered", { message: text, session_id: sessionId });
    showTyping(true);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) { input.focus(); return; }
    input.value = "";
    send(text);
    input.focus();
  });

  function loadHistory() {
    return fetch("/api/history/" + sessionId).then(function (reply) {
      if (!reply.ok) throw new Error("history " + reply.status);
      return reply.json();
    }).then(function (data) {
      messages.textContent = "";
      var turns = data.turns || [];
      turns.forEach(function (turn, index) {
        addBubble(turn.role, turn.text, { image: turn.image, buttons: turn.buttons, active: index === turns.length - 1 });
      });
      return turns.length;
    });
  }

  socket.on("connect", function () {
    setStatus("ok", "");
    socket.emit("session_request", { session_id: sessionId });
  });
  socket.on("session_confirm", function () {
    if (confirmedOnce) return;  // a reconnect: the conversation is already on screen
    confirmedOnce = true;
    var start = returning ? loadHistory() : Promise.resolve(0);
    start.catch(function () { return 0; }).then(function (count) {
      if (!count) send("/greet", null);
    });
  });
  socket.on("bot_uttered", function (message) {
    showTyping(false);
    var image = message.attachment && message.attachment.type === "image" && message.attachment.payload
      ? message.attachment.payload.src : null;
    var buttons = (message.quick_replies || message.buttons || []).map(function (b) {
      return { title: b.title, payload: b.payload };
    });
    addBubble("bot", message.text || "", { image: image, buttons: buttons });
  });
  socket.on("disconnect", function () {
    setStatus("offline", "连接已断开，正在重新连接…");
  });
  socket.on("connect_error", function () {
    setStatus("offline", "暂时连不上客服助手，正在重新连接…");
  });

  window.dySupport = { sessionId: sessionId, send: send };
})();
