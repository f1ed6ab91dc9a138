/* Dy 客服助手 support widget: socket.io to Rasa, history on reload and reconnect, safe rendering.
 * The session (conversation id and token) comes from the web server (POST /api/session).
 * Every text from users, bot and staff is inserted with textContent, never as HTML.
 * The page's own words come from domain.yml (utter_widget_*) through /config.js. */
(function () {
  "use strict";

  var config = window.DY_CONFIG || {};
  var words = config.strings || {};
  // "/": socket.io on this page's own origin (behind the scale-out's load balancer)
  var rasaUrl = config.rasaUrl === "/" ? location.origin
    : config.rasaUrl || (location.protocol + "//" + location.hostname + ":" + (config.rasaPort || 5005));
  var STORAGE_KEY = "dy-support-session";
  var TICKET_RE = /DY-\d{8}-\d{4,}/;
  var URL_RE = /(https?:\/\/[^\s<>"'，。；！？）】]+)/g;

  var messages = document.getElementById("messages");
  var statusBar = document.getElementById("status");
  var typing = document.getElementById("typing");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var sendButton = document.getElementById("send");

  function setStatus(state, text) {
    statusBar.className = "status " + state;
    statusBar.textContent = text || "";
    document.body.dataset.connection = state;
    var usable = state === "ok";
    sendButton.disabled = !usable;
    Array.prototype.forEach.call(messages.querySelectorAll(".replies.active button"), function (b) {
      b.disabled = !usable;
    });
  }

  /* storage may be disabled (private modes, some in-app web views): fall back to memory */
  var storage = (function () {
    try { localStorage.setItem("dy-probe", "1"); localStorage.removeItem("dy-probe"); return localStorage; }
    catch (error) { var memory = {}; return { getItem: function (k) { return memory[k] || null; }, setItem: function (k, v) { memory[k] = v; } }; }
  })();

  /* The session (conversation id and its token) is issued and signed by the web server; Rasa
   * and the history endpoint refuse an id without its token. An entry of an earlier widget
   * (a bare id without a token) or one refused later (expired, another secret) is replaced by
   * a new session: that old conversation cannot be proven to be this browser's. */
  function storedSession() {
    try {
      var value = JSON.parse(storage.getItem(STORAGE_KEY) || "null");
      if (value && typeof value.id === "string" && /^[a-f0-9]{32}$/.test(value.id) &&
          typeof value.token === "string" && value.token) return value;
    } catch (error) { /* an earlier widget's bare id, or nothing */ }
    return null;
  }

  function newSession() {
    return fetch("/api/session", { method: "POST", cache: "no-store" }).then(function (reply) {
      if (!reply.ok) throw new Error("session " + reply.status);
      return reply.json();
    }).then(function (data) {
      var value = { id: data.session_id, token: data.token };
      storage.setItem(STORAGE_KEY, JSON.stringify(value));
      return value;
    });
  }

  var session = storedSession();
  var returning = !!session;

  function useSession(value) {
    session = value;
    document.body.dataset.session = value.id;
    window.dySupport = { sessionId: value.id };
  }

  function scrollDown() { messages.scrollTop = messages.scrollHeight; }

  /* text -> nodes, with http(s) links as safe anchors */
  function appendText(parent, text) {
    String(text).split(URL_RE).forEach(function (part, index) {
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
    if (ticket && text.indexOf("优先级") >= 0) {  // the ticket created / already registered messages
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
    if (options.image && /^(https:\/\/|\/static\/)/.test(options.image)) {
      var img = document.createElement("img");
      img.src = options.image;
      img.alt = words.utter_widget_image_alt || "";
      img.addEventListener("load", scrollDown);
      bubble.appendChild(img);
    }
    messages.appendChild(bubble);
    if (options.buttons && options.buttons.length) addReplies(options.buttons, options.active !== false);
    scrollDown();
    return bubble;
  }

  function retireReplies() {
    Array.prototype.forEach.call(messages.querySelectorAll(".replies.active"), function (row) {
      row.classList.remove("active");
      Array.prototype.forEach.call(row.querySelectorAll("button"), function (b) { b.disabled = true; });
    });
  }

  function addReplies(buttons, active) {
    var row = document.createElement("div");
    row.className = "replies" + (active ? " active" : "");
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", words.utter_widget_replies_label || "");
    buttons.forEach(function (button) {
      var element = document.createElement("button");
      element.type = "button";
      element.textContent = button.title;
      element.disabled = !active || !socket || !socket.connected;
      element.addEventListener("click", function () {
        if (send(button.payload, button.title)) input.focus();
      });
      row.appendChild(element);
    });
    messages.appendChild(row);
  }

  var typingTimer = null;
  function showTyping(on) {
    clearTimeout(typingTimer);
    if (on) {
      typing.hidden = false;
      typingTimer = setTimeout(function () { typing.hidden = true; }, 20000);
    } else {
      /* a reply comes in several messages: hide once they stop arriving */
      typingTimer = setTimeout(function () { typing.hidden = true; }, 700);
    }
  }

  if (typeof window.io !== "function") {
    setStatus("offline", words.utter_widget_unreachable);
    return;
  }
  var socket = null;
  var loading = false;     // history is being drawn: live messages wait in `held`
  var held = [];
  var drawnOnce = false;

  function send(payload, shown) {
    var text = String(payload || "").trim();
    if (!text || loading || !socket.connected) return false;  // the controls are disabled then
    retireReplies();
    if (shown !== null) addBubble("user", shown || text);
    socket.emit("user_uttered", { message: text, session_id: session.id, token: session.token });
    showTyping(true);
    return true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) { input.focus(); return; }
    if (send(text)) input.value = "";  // offline: the text stays in the box
    input.focus();
  });

  function renderBotMessage(message) {
    var image = message.attachment && message.attachment.type === "image" && message.attachment.payload
      ? message.attachment.payload.src : null;
    var buttons = (message.quick_replies || message.buttons || []).map(function (b) {
      return { title: b.title, payload: b.payload };
    });
    if (buttons.length) retireReplies();
    addBubble("bot", message.text || "", { image: image, buttons: buttons });
  }

  /* Draw the conversation from the server (first load, reload, every reconnect), then the
   * live messages that arrived meanwhile and are not in it yet. */
  function drawHistory() {
    loading = true;
    sendButton.disabled = true;
    return fetch("/api/history/" + session.id, {
      cache: "no-store", headers: { "X-Dy-Session": session.token }
    }).then(function (reply) {
      if (reply.status === 403) { renewSession(); throw new Error("session refused"); }
      if (!reply.ok) throw new Error("history " + reply.status);
      return reply.json();
    }).then(function (data) {
      var turns = data.turns || [];
      renewals = 0;  // both servers took this session
      messages.textContent = "";
      turns.forEach(function (turn, index) {
        addBubble(turn.role, turn.text, { image: turn.image, buttons: turn.buttons, active: index === turns.length - 1 });
      });
      var recent = turns.slice(-12).filter(function (t) { return t.role === "bot"; }).map(function (t) { return t.text; });
      held.forEach(function (message) {
        var at = recent.indexOf(message.text || "");
        if (at >= 0) recent.splice(at, 1); else renderBotMessage(message);
      });
      return turns.length;
    }).finally(function () {
      held = [];
      loading = false;
      if (renewing) return;  // the status is the renewal's
      setStatus(socket.connected ? "ok" : "offline", socket.connected ? "" : words.utter_widget_offline);
    });
  }

  function requestSession() {
    socket.emit("session_request", { session_id: session.id, token: session.token });
  }

  /* The session was refused: start a new conversation with a new session. A new session that
   * is refused as well (the servers disagree about the secret) is not asked for again and
   * again: after a few the page says it cannot reach the assistant. */
  var renewals = 0;
  var renewing = false;
  function renewSession() {
    if (renewing) return;
    renewing = true;
    renewals += 1;
    if (renewals > 3) { setStatus("offline", words.utter_widget_unreachable); return; }
    setStatus("connecting", words.utter_widget_connecting);  // nothing is sent meanwhile
    returning = false;
    drawnOnce = false;
    messages.textContent = "";
    newSession().then(function (value) {
      useSession(value);
      renewing = false;
      if (socket.connected) requestSession();
    }, function () {  // the web server did not answer: that is no refusal, ask again
      setStatus("offline", words.utter_widget_unreachable);
      renewing = false;
      renewals -= 1;
      setTimeout(renewSession, 5000);
    });
  }

  function connect() {
    socket = window.io(rasaUrl, { transports: ["websocket"], reconnection: true,
                                  reconnectionDelay: 1000, reconnectionDelayMax: 5000 });
    socket.on("connect", requestSession);
    socket.on("session_refused", renewSession);
    socket.on("session_confirm", function () {
      setStatus("ok", "");
      if (!returning && !drawnOnce) {
        drawnOnce = true;
        renewals = 0;
        send("/greet", null);  // a new conversation starts with the assistant's greeting
        return;
      }
      drawnOnce = true;
      drawHistory().then(function (count) {
        if (!count) send("/greet", null);
      }, function () {
        if (renewing) return;  // the session was refused: a new one is on its way
        setStatus("ok", "");
        statusBar.className = "status offline";
        statusBar.textContent = words.utter_widget_history_failed;
      });
    });
    socket.on("bot_uttered", function (message) {
      showTyping(false);
      if (loading) { held.push(message); return; }
      renderBotMessage(message);
    });
    socket.on("disconnect", function () {
      returning = true;  // after a reconnect, redraw from the server: nothing said meanwhile is lost
      setStatus("offline", words.utter_widget_offline);
    });
    socket.on("connect_error", function () {
      setStatus("offline", words.utter_widget_unreachable);
    });
  }

  /* the web server is briefly unreachable: ask again, the page stays as it is meanwhile */
  function start() {
    (session ? Promise.resolve(session) : newSession()).then(function (value) {
      useSession(value);
      connect();
    }, function () {
      setStatus("offline", words.utter_widget_unreachable);
      setTimeout(start, 5000);
    });
  }
  start();
})();
