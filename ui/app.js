/* kairos-desktop panel: settings, chat, inbox, tasks, activity, memory and approvals.
 *
 * Plain JavaScript with no build step: the page is served by the engine's control API and shown
 * in a pywebview window or a browser tab. Everything it knows comes from the JSON API (the token
 * goes in the X-Kairos-Token header) and the live event stream (/api/events); the page never
 * polls. The token is not left in the address bar or the history: the page is opened with a
 * one-time `?code=` that it trades for the token (or, from older callers, `?token=`), keeps the
 * token in sessionStorage for reloads, and drops the query string at once. CSP forbids inline scripts and style attributes, so styling is done through
 * classes in app.css (element.style only for the composer's height).
 */
"use strict";

(() => {
  const TOKEN_KEY = "kairos-token";
  let TOKEN = "";
  const VIEWS = ["chat", "inbox", "tasks", "activity", "memory", "settings"];
  const VIEW_TITLES = {
    chat: "Chat", inbox: "Inbox", tasks: "Tasks", activity: "Activity", memory: "Memory",
    settings: "Settings",
  };
  const MODEL_PATTERN = /^claude-[a-z0-9]+([.-][a-z0-9]+)*$/;
  const SSE_EVENTS = ["message", "inbound", "file", "notification", "state", "settings", "usage",
    "tool", "task", "tasks", "dream", "approval", "inbox"];

  const state = {
    view: null,
    status: {},
    settings: null,
    apiKey: null,
    assistantName: "Kairos",
    chat: new Map(), // id (or local id) -> {item, el}
    chatMode: null, // null = follow settings.defaultView
    transcriptLoaded: false,
    toolEls: new Map(), // toolUseId -> details element
    inbox: [],
    inboxLoaded: false,
    inboxByPath: new Map(),
    tasks: [],
    dream: null,
    approvals: new Map(),
    decidedHere: new Set(),
    sseBroken: false,
    readySent: false,
    focused: null,
    logDate: "",
  };

  // ---------------------------------------------------------------------------------------------
  // small helpers

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    appendAll(el, children);
    return el;
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    setAttrs(el, attrs);
    appendAll(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.setAttribute("class", value);
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else el.setAttribute(key, value === true ? "" : String(value));
    }
  }

  function appendAll(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
  }

  function debounce(fn, ms) {
    let timer = 0;
    const wrapped = (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
    wrapped.cancel = () => clearTimeout(timer);
    return wrapped;
  }

  function same(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  function formatBytes(n) {
    if (!Number.isFinite(n)) return "";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  function formatCost(usd) {
    const v = Number(usd) || 0;
    if (v === 0) return "$0";
    if (v < 0.01) return "<$0.01";
    return `$${v.toFixed(2)}`;
  }

  function formatInt(n) {
    return (Number(n) || 0).toLocaleString();
  }

  // ---------------------------------------------------------------------------------------------
  // time

  function toDate(iso) {
    if (!iso) return null;
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function localDay(d) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  function relTime(iso, now = Date.now()) {
    const d = toDate(iso);
    if (!d) return "";
    const sec = Math.round((d.getTime() - now) / 1000);
    const abs = Math.abs(sec);
    if (abs < 45) return sec >= 0 ? "in a moment" : "just now";
    let amount;
    if (abs < 90 * 60) amount = `${Math.round(abs / 60)} min`;
    else if (abs < 36 * 3600) amount = `${Math.round(abs / 3600)} h`;
    else amount = `${Math.round(abs / 86400)} d`;
    return sec >= 0 ? `in ${amount}` : `${amount} ago`;
  }

  function clock(iso) {
    const d = toDate(iso);
    return d ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  }

  function when(iso) {
    const d = toDate(iso);
    if (!d) return "";
    const today = localDay(new Date());
    if (localDay(d) === today) return clock(iso);
    const opts = { weekday: "short", day: "numeric", month: "short" };
    if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric";
    return `${d.toLocaleDateString([], opts)}, ${clock(iso)}`;
  }

  function relSpan(iso, extra) {
    // A relative time that the minute ticker keeps fresh.
    return h("time", { datetime: iso, "data-rel": iso, title: toDate(iso)?.toLocaleString(), ...extra },
      relTime(iso));
  }

  function refreshRelativeTimes() {
    for (const el of document.querySelectorAll("[data-rel]")) {
      el.textContent = relTime(el.getAttribute("data-rel"));
    }
    renderStatus();
  }

  // ---------------------------------------------------------------------------------------------
  // the API

  class AuthError extends Error {}

  async function api(path, { method = "GET", body } = {}) {
    const headers = { "X-Kairos-Token": TOKEN, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      return { ok: false, status: 0, data: { error: "The assistant is not answering. Is it still running?" } };
    }
    if (response.status === 401) {
      forgetToken();
      showFatal();
      throw new AuthError("unauthorized");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok && !(data && data.error)) {
      data = { error: `The assistant answered ${response.status}.` };
    }
    return { ok: response.ok, status: response.status, data };
  }

  function post(path, body = {}) {
    return api(path, { method: "POST", body });
  }

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch {
      return ""; // storage disabled: the page still works until it is reloaded
    }
  }

  function storeToken(token) {
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      /* see storedToken */
    }
  }

  function forgetToken() {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      /* see storedToken */
    }
  }

  // The token for this page: from a one-time ?code= (traded at the server), a ?token=, or what
  // this tab stored before a reload. The query string leaves the address bar and the history
  // entry before anything else happens; the #view stays. "" means the page cannot work.
  async function acquireToken() {
    const params = new URLSearchParams(location.search);
    const code = params.get("code");
    const fromUrl = params.get("token");
    if (code === null && fromUrl === null) return storedToken();
    history.replaceState(history.state, "", location.pathname + location.hash);
    if (code === null) {
      if (fromUrl) storeToken(fromUrl);
      return fromUrl;
    }
    let response;
    try {
      response = await fetch("/api/panel/session", {
        method: "POST", cache: "no-store",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ code }),
      });
    } catch {
      showFatal("The assistant is not answering", "Is it still running? Open the panel again from the tray, or run kairos panel.");
      return null;
    }
    const data = response.ok ? await response.json().catch(() => null) : null;
    const token = data && typeof data.token === "string" ? data.token : "";
    if (token) storeToken(token);
    else forgetToken();
    return token;
  }

  function showFatal(title, text) {
    if (title) $("fatal-title").textContent = title;
    if (text) $("fatal-text").textContent = text;
    $("fatal").hidden = false;
    $("app").hidden = true;
    $("app").setAttribute("inert", "");
  }

  // ---------------------------------------------------------------------------------------------
  // toasts and confirm

  function toast(text, kind = "info", ms = 4000) {
    const el = h("div", { class: `toast${kind === "error" ? " toast-error" : ""}`, "data-testid": "toast" }, text);
    $("toasts").append(el);
    setTimeout(() => el.remove(), ms);
  }

  function confirmDialog(title, text, okLabel = "Delete") {
    const dialog = $("confirm-dialog");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel;
    dialog.returnValue = "cancel";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
      dialog.querySelector("[value=cancel]").focus(); // Enter on a destructive default is too easy
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Markdown (a safe subset: text nodes only, links limited to http(s))

  function renderMarkdown(text) {
    const frag = document.createDocumentFragment();
    const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (/^\s*```/.test(line)) {
        const code = [];
        i += 1;
        while (i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i++]);
        i += 1;
        frag.append(h("pre", null, h("code", null, code.join("\n"))));
        continue;
      }
      const bullet = /^\s*[-*•]\s+(.*)$/;
      const numbered = /^\s*\d+[.)]\s+(.*)$/;
      if (bullet.test(line) || numbered.test(line)) {
        const re = bullet.test(line) ? bullet : numbered;
        const list = h(re === bullet ? "ul" : "ol");
        while (i < lines.length && re.test(lines[i])) {
          list.append(inline(h("li"), lines[i].match(re)[1]));
          i += 1;
        }
        frag.append(list);
        continue;
      }
      if (!line.trim()) {
        i += 1;
        continue;
      }
      const para = h("p");
      const heading = line.match(/^#{1,6}\s+(.*)$/);
      if (heading) {
        para.append(inline(h("strong"), heading[1]));
        i += 1;
      } else {
        let first = true;
        while (i < lines.length && lines[i].trim() && !/^\s*```/.test(lines[i])
               && !bullet.test(lines[i]) && !numbered.test(lines[i]) && !/^#{1,6}\s/.test(lines[i])) {
          if (!first) para.append(h("br"));
          inline(para, lines[i]);
          first = false;
          i += 1;
        }
      }
      frag.append(para);
    }
    return frag;
  }

  const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\[[^\]\n]+\]\(https?:\/\/[^\s)]+\))|(https?:\/\/[^\s<]*[^\s<.,;:!?)\]'"])|(\*[^*\s][^*\n]*\*)|(_[^_\s][^_\n]*_)/g;

  function inline(parent, text) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      const token = m[0];
      if (m[1]) parent.append(h("code", null, token.slice(1, -1)));
      else if (m[2]) parent.append(h("strong", null, token.slice(2, -2)));
      else if (m[3]) {
        const [, label, href] = token.match(/^\[([^\]]+)\]\((.+)\)$/);
        parent.append(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, label));
      } else if (m[4]) parent.append(h("a", { href: token, target: "_blank", rel: "noopener noreferrer" }, token));
      else parent.append(h("em", null, token.slice(1, -1)));
      last = m.index + token.length;
    }
    if (last < text.length) parent.append(text.slice(last));
    return parent;
  }

  // ---------------------------------------------------------------------------------------------
  // status pill and assistant name

  function statusText(st) {
    // [state, next wake or detail]
    switch (st.state) {
      case "sleeping":
        return ["Sleeping", st.sleepingUntil ? `wakes ${relTime(st.sleepingUntil)}`
          : "until something arrives"];
      case "working":
        return ["Working…", state.approvals.size ? "waiting for your approval" : (st.detail || "")];
      case "paused": return ["Paused", "wakes only when resumed"];
      case "no_api_key": return ["No API key", "add one in Settings"];
      case "offline": return ["Offline", "retrying"];
      case "error": return ["Error", st.detail || ""];
      case "starting": return ["Starting…", ""];
      case "stopped": return ["Stopped", ""];
      default: return [st.state || "connecting…", ""];
    }
  }

  function renderStatus() {
    const st = state.status || {};
    const pill = $("status-pill");
    const shown = state.sseBroken ? "disconnected" : (st.state || "starting");
    pill.dataset.state = shown;
    const [label, next] = state.sseBroken ? ["reconnecting…", ""] : statusText(st);
    $("status-text").textContent = label;
    $("status-next").textContent = next;
    $("status-next").hidden = !next;
    const tip = [st.sleepingUntil && st.state === "sleeping" ? `Wakes at ${when(st.sleepingUntil)}` : "",
      st.detail, st.nextTask ? `Next task ${relTime(st.nextTask.dueAt)}: ${st.nextTask.prompt}` : ""]
      .filter(Boolean).join("\n");
    if (tip) pill.title = tip;
    else pill.removeAttribute("title");
    const working = st.state === "working";
    $("working").hidden = !working;
    $("working-text").textContent = `${state.assistantName} is working…`;
    const paused = st.state === "paused" || st.paused === true;
    $("pause-btn").textContent = paused ? "Resume" : "Pause";
    $("pause-btn").dataset.paused = paused ? "1" : "0";
  }

  function applyStatus(data) {
    state.status = { ...state.status, ...data };
    if (data.assistantName) setAssistantName(data.assistantName);
    renderStatus();
  }

  function setAssistantName(name) {
    if (!name) return;
    state.assistantName = name;
    $("assistant-name").textContent = name;
    $("chat-input").placeholder = `Message ${name}…  (Enter sends, Shift+Enter for a new line)`;
    document.title = state.view ? `${VIEW_TITLES[state.view]} · ${name}` : name;
    for (const el of document.querySelectorAll(".msg-assistant .msg-name")) el.textContent = name;
    renderStatus();
  }

  // ---------------------------------------------------------------------------------------------
  // views and navigation

  function viewFromHash() {
    const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
    if (name === "transcript") return { view: "chat", mode: "transcript" };
    return { view: VIEWS.includes(name) ? name : "chat", mode: null };
  }

  async function showView(view, { focus = false } = {}) {
    const changed = state.view !== view;
    state.view = view;
    for (const section of document.querySelectorAll("section.view")) {
      section.hidden = section.dataset.view !== view;
    }
    for (const link of document.querySelectorAll(".nav a")) {
      if (link.dataset.view === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = `${VIEW_TITLES[view]} · ${state.assistantName}`;
    if (focus || (changed && view === "chat")) focusView(view);
    await loadView(view);
  }

  function focusView(view) {
    if (view === "chat") {
      $("chat-input").focus({ preventScroll: true });
      return;
    }
    const section = $(`view-${view}`);
    const target = section.querySelector("input, select, textarea, button, summary, a[href]");
    if (target) target.focus({ preventScroll: true });
  }

  async function loadView(view) {
    try {
      if (view === "chat") await loadChat();
      else if (view === "inbox") await loadInbox();
      else if (view === "tasks") await loadTasks();
      else if (view === "activity") await Promise.all([loadLog(), loadUsage()]);
      else if (view === "memory") await Promise.all([loadMemory(), loadDream()]);
      else if (view === "settings") await Promise.all([loadSettings(), loadDream()]);
    } catch (err) {
      if (!(err instanceof AuthError)) {
        console.error(err);
        toast(`Could not load ${VIEW_TITLES[view]}: ${err.message}`, "error");
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // chat: brief view

  let localSeq = 0;

  function chatMode() {
    return state.chatMode || (state.settings && state.settings.defaultView) || "chat";
  }

  function setChatMode(mode, userChoice = true) {
    if (userChoice) state.chatMode = mode;
    state.renderedMode = mode;
    const transcript = mode === "transcript";
    $("mode-brief").setAttribute("aria-checked", String(!transcript));
    $("mode-transcript").setAttribute("aria-checked", String(transcript));
    $("mode-brief").tabIndex = transcript ? -1 : 0;
    $("mode-transcript").tabIndex = transcript ? 0 : -1;
    $("chat-list").hidden = transcript;
    $("transcript").hidden = !transcript;
    updateChatEmpty();
    if (transcript && state.view === "chat") loadTranscript().catch(reportError);
    else scrollChat(true);
  }

  async function loadChat() {
    const jobs = [api("/api/chat?limit=200")];
    if (chatMode() === "transcript") jobs.push(loadTranscript());
    const [r] = await Promise.all(jobs);
    if (!r.ok) throw new Error(r.data.error);
    for (const item of r.data) upsertChat(item);
    updateChatEmpty();
    scrollChat(true);
    markVisibleRead();
  }

  function attachmentFromPath(path) {
    const inboxItem = state.inboxByPath.get(path);
    return { name: path.split(/[\\/]/).pop(), path, inboxId: inboxItem ? inboxItem.id : null };
  }

  function upsertChat(item, key = item.id) {
    const existing = state.chat.get(key);
    if (existing) {
      if (same(existing.item, item)) return existing.el;
      const el = chatItemEl(item);
      existing.el.replaceWith(el);
      state.chat.set(key, { item, el });
      return el;
    }
    const el = chatItemEl(item);
    const list = $("chat-list");
    // Usually the newest: append. Otherwise insert before the first later item.
    const t = toDate(item.createdAt)?.getTime() ?? Date.now();
    let before = null;
    for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
      const nt = Number(node.dataset.time);
      if (nt > t) before = node;
      else break;
    }
    el.dataset.time = String(t);
    list.insertBefore(el, before);
    state.chat.set(key, { item, el });
    updateChatEmpty();
    return el;
  }

  function chatItemEl(item) {
    const isUser = item.role === "user";
    const status = item.status || (isUser ? null : "normal");
    const classes = ["msg", isUser ? "msg-user" : "msg-assistant"];
    if (status === "proactive") classes.push("msg-proactive");
    if (status === "system") classes.push("msg-system");
    if (!isUser && item.read === false) classes.push("msg-unread");
    if (item.pending) classes.push("pending");
    if (item.failed) classes.push("failed");
    const meta = h("div", { class: "msg-meta" },
      isUser ? null : h("span", { class: "msg-name" }, state.assistantName),
      status === "proactive" ? h("span", { class: "badge badge-proactive", "data-testid": "chat-badge-proactive" }, "proactive") : null,
      status === "system" ? h("span", { class: "badge badge-system", "data-testid": "chat-badge-system" }, "system") : null,
      h("time", { datetime: item.createdAt, title: toDate(item.createdAt)?.toLocaleString() }, when(item.createdAt)),
      item.pending ? h("span", null, "sending…") : null,
      item.failed ? h("span", null, "not sent") : null,
    );
    const bubble = h("div", { class: "bubble", "data-testid": "chat-text" });
    if (isUser) bubble.textContent = item.text;
    else bubble.append(renderMarkdown(item.text));
    const attachments = (item.attachments || []).map((a) => attachmentEl(typeof a === "string" ? attachmentFromPath(a) : a));
    if (attachments.length) bubble.append(h("div", { class: "attachments" }, attachments));
    const li = h("li", {
      class: classes.join(" "), "data-testid": "chat-item", "data-id": item.id || "",
      "data-role": item.role, "data-status": status || "",
    }, meta, bubble);
    li.dataset.time = String(toDate(item.createdAt)?.getTime() ?? Date.now());
    return li;
  }

  function attachmentEl(att) {
    const icon = s("svg", { class: "icon", viewBox: "0 0 24 24", "aria-hidden": "true" },
      s("path", { d: "M8 12.5l6.5-6.5a3 3 0 0 1 4.2 4.2L10 19a5 5 0 0 1-7-7l8-8" }));
    if (!att.inboxId) {
      return h("span", { class: "attachment", title: att.path, "data-testid": "chat-attachment" }, icon, att.name);
    }
    return h("a", {
      class: "attachment", href: "#", title: `Open ${att.path}`, "data-testid": "chat-attachment",
      "data-inbox-id": att.inboxId,
      onclick: (e) => {
        e.preventDefault();
        openInboxItem(att.inboxId);
      },
    }, icon, att.name);
  }

  function updateChatEmpty() {
    $("chat-empty").hidden = chatMode() === "transcript" || state.chat.size > 0;
  }

  function nearBottom() {
    const sc = $("chat-scroll");
    return sc.scrollHeight - sc.scrollTop - sc.clientHeight < 120;
  }

  function scrollChat(force = false) {
    const sc = $("chat-scroll");
    if (force || nearBottom()) requestAnimationFrame(() => { sc.scrollTop = sc.scrollHeight; });
  }

  const markVisibleRead = debounce(() => {
    if (state.view !== "chat" || !document.hasFocus() || document.hidden) return;
    for (const { item, el } of state.chat.values()) {
      if (item.role !== "assistant" || item.read !== false || !item.id) continue;
      item.read = true;
      el.classList.remove("msg-unread");
      post(`/api/messages/${encodeURIComponent(item.id)}/read`).catch(() => {});
    }
  }, 1500);

  async function sendMessage() {
    const input = $("chat-input");
    const text = input.value.trim();
    hideError("chat-error");
    if (!text) return;
    input.value = "";
    autosize();
    const localId = `local-${++localSeq}`;
    const item = { id: null, role: "user", text, status: null, createdAt: new Date().toISOString(), attachments: [], pending: true };
    upsertChat(item, localId);
    scrollChat(true);
    if (state.transcriptLoaded) appendTranscriptText("user", text, new Date().toISOString());
    const r = await post("/api/send", { text });
    const entry = state.chat.get(localId);
    if (!entry) return; // adopted by the inbound event already
    if (!r.ok) {
      entry.item.pending = false;
      entry.item.failed = true;
      const el = chatItemEl(entry.item);
      entry.el.replaceWith(el);
      entry.el = el;
      showError("chat-error", r.data.error || "Not sent.");
      if (!input.value) {
        input.value = text;
        autosize();
      }
      return;
    }
    const id = r.data.id;
    state.chat.delete(localId);
    if (id && state.chat.has(id)) {
      entry.el.remove(); // the inbound event already showed it
      return;
    }
    const done = { ...entry.item, id, pending: false };
    const el = chatItemEl(done);
    entry.el.replaceWith(el);
    state.chat.set(id || localId, { item: done, el });
  }

  function onInbound(data) {
    if (data.kind && data.kind !== "user") return;
    if (state.chat.has(data.id)) return;
    // Our own message whose POST has not answered yet: adopt the local bubble.
    for (const [key, entry] of state.chat) {
      if (entry.item.pending && entry.item.text === (data.text || "").trim()) {
        state.chat.delete(key);
        const item = { ...entry.item, id: data.id, pending: false, createdAt: data.createdAt || entry.item.createdAt };
        const el = chatItemEl(item);
        entry.el.replaceWith(el);
        state.chat.set(data.id, { item, el });
        return;
      }
    }
    upsertChat({ id: data.id, role: "user", text: data.text, status: null, createdAt: data.createdAt, read: true, attachments: [] });
    if (state.transcriptLoaded) appendTranscriptText("user", data.text, data.createdAt);
    scrollChat();
  }

  function onMessage(data) {
    const item = {
      id: data.id, role: "assistant", text: data.text, status: data.status || "normal",
      createdAt: data.createdAt, read: data.read ?? false,
      attachments: (data.attachments || []).map((a) => (typeof a === "string" ? attachmentFromPath(a) : a)),
    };
    const stick = nearBottom();
    upsertChat(item);
    if (stick) scrollChat(true);
    markVisibleRead();
  }

  function autosize() {
    const input = $("chat-input");
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 200)}px`;
  }

  // ---------------------------------------------------------------------------------------------
  // chat: transcript view

  async function loadTranscript() {
    const r = await api("/api/transcript?limit=40");
    if (!r.ok) throw new Error(r.data.error);
    const list = $("transcript-list");
    list.replaceChildren();
    state.toolEls.clear();
    const { summary, entries = [] } = r.data;
    $("transcript-summary").hidden = !summary;
    $("transcript-summary").textContent = summary ? `Earlier: ${summary}` : "";
    for (const entry of entries) {
      if (entry.type === "tool_use") appendToolCall(entry.name, entry.input, entry.toolUseId);
      else if (entry.type === "tool_result") {
        const el = state.toolEls.get(entry.toolUseId);
        if (el) setToolResult(el, entry.text, entry.isError);
        else list.append(h("li", { class: "t-entry t-user", "data-testid": "transcript-entry" },
          h("div", { class: "t-role" }, "tool result"), h("div", { class: "t-text" }, entry.text || "")));
      } else appendTranscriptText(entry.role, entry.text, entry.at);
    }
    state.transcriptLoaded = true;
    $("transcript-empty").hidden = entries.length > 0;
    scrollChat(true);
  }

  function appendTranscriptText(role, text, at) {
    const body = String(text || "");
    const long = body.length > 900;
    const content = long
      ? h("details", null, h("summary", { class: "t-text" }, `${body.slice(0, 300)}…`), h("div", { class: "t-text" }, body))
      : h("div", { class: "t-text" }, body);
    $("transcript-list").append(h("li", {
      class: `t-entry t-${role === "user" ? "user" : "assistant"}`, "data-testid": "transcript-entry",
      "data-type": "text", "data-role": role,
    }, h("div", { class: "t-role" }, role === "user" ? "user" : state.assistantName,
      at ? ` · ${when(at)}` : ""), content));
    $("transcript-empty").hidden = true;
  }

  function appendToolCall(name, input, toolUseId) {
    const inputText = JSON.stringify(input ?? {}, null, 2);
    const preview = JSON.stringify(input ?? {});
    const body = h("div", { class: "t-tool-body" }, h("h3", null, "Input"),
      h("pre", { class: "mono", "data-testid": "transcript-tool-input" }, inputText));
    const details = h("details", { class: "t-tool", "data-testid": "transcript-tool", "data-name": name || "" },
      h("summary", null, h("span", { class: "t-tool-name" }, name || "tool"),
        h("span", { class: "t-tool-preview" }, preview.length > 120 ? `${preview.slice(0, 120)}…` : preview)),
      body);
    const li = h("li", { class: "t-entry", "data-testid": "transcript-entry", "data-type": "tool_use" }, details);
    $("transcript-list").append(li);
    if (toolUseId) state.toolEls.set(toolUseId, details);
    $("transcript-empty").hidden = true;
    return details;
  }

  function setToolResult(details, text, isError) {
    const body = details.querySelector(".t-tool-body");
    body.querySelector(".t-result-wrap")?.remove();
    const resultText = typeof text === "string" ? text : JSON.stringify(text, null, 2);
    body.append(h("div", { class: "t-result-wrap" },
      h("h3", null, isError ? "Result (error)" : "Result"),
      h("pre", { class: "mono t-result", "data-testid": "transcript-tool-result" }, resultText ?? "")));
    details.classList.toggle("is-error", Boolean(isError));
    if (isError) details.querySelector("summary").append(h("span", { class: "badge badge-error" }, "error"));
  }

  function onTool(data) {
    if (!state.transcriptLoaded) return;
    const stick = nearBottom();
    const details = appendToolCall(data.name, data.input, null);
    setToolResult(details, data.result, data.isError);
    if (stick) scrollChat(true);
  }

  // ---------------------------------------------------------------------------------------------
  // inbox

  async function loadInbox() {
    const r = await api("/api/inbox");
    if (!r.ok) throw new Error(r.data.error);
    state.inbox = r.data;
    state.inboxLoaded = true;
    for (const item of state.inbox) state.inboxByPath.set(item.path, item);
    renderInbox();
  }

  function renderInbox() {
    const list = $("inbox-list");
    list.replaceChildren(...state.inbox.map(inboxItemEl));
    $("inbox-empty").hidden = state.inbox.length > 0;
    const folder = state.settings?.inboxDir;
    $("inbox-folder").textContent = folder ? `Folder: ${folder}` : "";
    const unread = state.inbox.filter((i) => !i.read).length;
    $("badge-inbox").hidden = unread === 0;
    $("badge-inbox").textContent = String(unread);
    $("badge-inbox").setAttribute("aria-label", `${unread} unread`);
  }

  function inboxItemEl(item) {
    const ext = (item.name.match(/\.([a-z0-9]{1,4})$/i) || [, "file"])[1];
    const openBtn = h("button", { type: "button", class: "btn btn-small", "data-testid": "inbox-open", onclick: () => openInboxItem(item.id) }, "Open");
    const revealBtn = h("button", { type: "button", class: "btn btn-small btn-quiet", "data-testid": "inbox-reveal", onclick: () => revealInboxItem(item.id) }, "Show in folder");
    const readBtn = item.read ? null : h("button", {
      type: "button", class: "btn btn-small btn-quiet", "data-testid": "inbox-mark-read",
      onclick: () => markInboxRead(item.id),
    }, "Mark read");
    const title = item.title && item.title !== item.name ? item.title : item.name;
    return h("li", {
      class: `card inbox-item${item.read ? "" : " unread"}`, "data-testid": "inbox-item", "data-id": item.id,
      "data-read": item.read ? "true" : "false",
    },
    h("span", { class: "file-icon", "aria-hidden": "true" }, ext),
    h("div", { class: "inbox-body" },
      h("div", { class: "inbox-name", title: item.path }, item.read ? null : h("span", { class: "sr-only" }, "Unread: "), title),
      h("div", { class: "inbox-meta" }, [item.name !== title ? item.name : null, formatBytes(item.size)].filter(Boolean).join(" · "),
        " · ", relSpan(item.deliveredAt))),
    h("div", { class: "inbox-actions" }, openBtn, revealBtn, readBtn));
  }

  function setInboxRead(id, read = true) {
    const item = state.inbox.find((i) => i.id === id);
    if (item && item.read !== read) {
      item.read = read;
      renderInbox();
    }
  }

  async function openInboxItem(id) {
    const r = await post(`/api/inbox/${encodeURIComponent(id)}/open`);
    if (!r.ok) return toast(r.data.error || "Could not open the file.", "error");
    setInboxRead(id);
  }

  async function revealInboxItem(id) {
    const r = await post(`/api/inbox/${encodeURIComponent(id)}/reveal`);
    if (!r.ok) toast(r.data.error || "Could not show the file.", "error");
  }

  async function markInboxRead(id) {
    const r = await post(`/api/inbox/${encodeURIComponent(id)}/read`);
    if (!r.ok) return toast(r.data.error || "Could not mark it read.", "error");
    setInboxRead(id);
  }

  function onFile(data) {
    state.inboxByPath.set(data.path, data);
    if (!state.inbox.some((i) => i.id === data.id)) state.inbox.unshift({ read: false, ...data });
    renderInbox();
  }

  // ---------------------------------------------------------------------------------------------
  // tasks

  async function loadTasks() {
    const r = await api("/api/tasks");
    if (!r.ok) throw new Error(r.data.error);
    state.tasks = r.data;
    renderTasks();
  }

  function renderTasks() {
    const tasks = [...state.tasks].sort((a, b) => (toDate(a.nextDueAt || a.nextSlotAt)?.getTime() ?? Infinity)
      - (toDate(b.nextDueAt || b.nextSlotAt)?.getTime() ?? Infinity));
    $("tasks-body").replaceChildren(...tasks.map(taskRowEl));
    $("tasks-empty").hidden = tasks.length > 0;
  }

  function taskRowEl(task) {
    const next = task.nextDueAt || task.nextSlotAt;
    return h("tr", { "data-testid": "task-row", "data-id": task.id },
      h("td", { class: "task-prompt" },
        task.builtin ? h("span", { class: "badge", "data-testid": "task-builtin", title: `Built-in: ${task.builtin}` }, "built-in") : null,
        task.recurring ? null : h("span", { class: "badge badge-ok" }, "once"),
        h("span", { "data-testid": "task-prompt-text" }, task.prompt)),
      h("td", null,
        h("div", { class: "task-desc", "data-testid": "task-description" }, task.description || ""),
        h("div", { class: "task-cron" }, task.cron)),
      h("td", { class: "task-next", "data-testid": "task-next" },
        next ? [relSpan(next), h("small", null, when(next))] : "—"),
      h("td", null, h("button", {
        type: "button", class: "btn btn-small btn-danger", "data-testid": "task-delete",
        "aria-label": `Delete task: ${task.prompt}`,
        onclick: () => deleteTask(task),
      }, "Delete")));
  }

  async function deleteTask(task) {
    const extra = task.builtin ? " It is a built-in task." : "";
    if (!await confirmDialog("Delete this task?", `“${task.prompt}” (${task.description || task.cron}).${extra}`)) return;
    const r = await api(`/api/tasks/${encodeURIComponent(task.id)}`, { method: "DELETE" });
    if (!r.ok && r.status !== 404) return toast(r.data.error || "Could not delete the task.", "error");
    state.tasks = state.tasks.filter((t) => t.id !== task.id);
    renderTasks();
    toast("Task deleted");
  }

  let cronSeq = 0;
  const describeCron = debounce(async () => {
    const expr = $("task-cron").value.trim();
    const out = $("task-cron-desc");
    const seq = ++cronSeq;
    if (!expr) {
      out.replaceChildren(h("span", { class: "hint" }, "Five fields: minute, hour, day of month, month, day of week."));
      $("task-cron").removeAttribute("aria-invalid");
      return;
    }
    const r = await api(`/api/cron/describe?cron=${encodeURIComponent(expr)}`);
    if (seq !== cronSeq) return; // a newer expression is on its way
    if (r.ok && r.data.valid) {
      $("task-cron").removeAttribute("aria-invalid");
      out.replaceChildren(
        h("span", { class: "cron-text", "data-testid": "task-cron-text" }, r.data.text),
        h("ul", { "data-testid": "task-cron-next" }, (r.data.next || []).slice(0, 3).map((iso) =>
          h("li", null, `${when(iso)} (${relTime(iso)})`))));
    } else {
      $("task-cron").setAttribute("aria-invalid", "true");
      out.replaceChildren(h("span", { class: "cron-bad", "data-testid": "task-cron-error" },
        r.data?.error || "Not a cron expression."));
    }
  }, 250);

  async function addTask(e) {
    e.preventDefault();
    hideError("task-error");
    const cron = $("task-cron").value.trim();
    const prompt = $("task-prompt").value.trim();
    if (!cron) return showError("task-error", "Say when, as a cron expression.", $("task-cron"));
    if (!prompt) return showError("task-error", "Say what the assistant should do.", $("task-prompt"));
    const r = await post("/api/tasks", { cron, prompt, recurring: $("task-recurring").checked, durable: true });
    if (!r.ok) return showError("task-error", r.data.error, $("task-cron"));
    $("task-cron").value = "";
    $("task-prompt").value = "";
    describeCron();
    toast("Task added");
    await loadTasks();
  }

  // ---------------------------------------------------------------------------------------------
  // activity: daily log and usage chart

  let logSeq = 0;

  async function loadLog() {
    const params = new URLSearchParams();
    if (state.logDate) params.set("date", state.logDate);
    const q = $("log-search").value.trim();
    if (q) params.set("q", q);
    const seq = ++logSeq;
    const r = await api(`/api/log?${params}`);
    if (seq !== logSeq) return;
    if (!r.ok) throw new Error(r.data.error);
    const { date, dates = [], entries = [] } = r.data;
    const select = $("log-date");
    const all = dates.includes(date) ? dates : [date, ...dates];
    const today = localDay(new Date());
    select.replaceChildren(...all.map((d) => h("option", { value: d, selected: d === date }, d === today ? `Today (${d})` : d)));
    select.value = date;
    $("log-list").replaceChildren(...entries.map((e) => h("li", { class: "log-entry", "data-testid": "log-entry" },
      h("span", { class: "log-time" }, e.time),
      h("span", { class: "log-kind", title: e.kind }, highlight(e.kind, q)),
      h("span", { class: "log-text" }, highlight(e.text, q)))));
    $("log-empty").hidden = entries.length > 0;
    $("log-empty").textContent = q ? `Nothing matches “${q}” on ${date}.` : "Nothing logged that day.";
  }

  function highlight(text, q) {
    const str = String(text ?? "");
    if (!q) return str;
    const frag = document.createDocumentFragment();
    const needle = q.toLowerCase();
    const lower = str.toLowerCase();
    let at = 0;
    for (;;) {
      const found = lower.indexOf(needle, at);
      if (found < 0) break;
      frag.append(str.slice(at, found), h("mark", null, str.slice(found, found + q.length)));
      at = found + q.length;
    }
    frag.append(str.slice(at));
    return frag;
  }

  async function loadUsage() {
    const r = await api("/api/usage");
    if (!r.ok) throw new Error(r.data.error);
    renderUsage(r.data);
  }

  function renderUsage(rows) {
    const byDate = new Map((rows || []).map((row) => [row.date, row]));
    const days = [];
    const now = new Date();
    for (let back = 29; back >= 0; back -= 1) {
      const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() - back);
      const key = localDay(d);
      days.push({ date: key, day: d, calls: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0, costUsd: 0, ...byDate.get(key) });
    }
    const max = Math.max(...days.map((d) => Number(d.costUsd) || 0), 0.0001);
    const W = 300;
    const H = 100;
    const slot = W / days.length;
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "Estimated cost per day, last 30 days" });
    days.forEach((d, i) => {
      const cost = Number(d.costUsd) || 0;
      const height = cost > 0 ? Math.max(2, (cost / max) * (H - 4)) : 1.5;
      const label = d.day.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });
      const title = `${label}: ${formatCost(cost)} · ${plural(d.calls || 0, "call")} · ${formatInt(d.input)} in / ${formatInt(d.output)} out tokens`
        + ` · cache ${formatInt(d.cacheRead)} read / ${formatInt(d.cacheWrite)} written`;
      svg.append(s("g", { "data-testid": "usage-bar", "data-date": d.date, "data-cost": cost },
        s("title", null, title),
        s("rect", { class: "hit", x: i * slot, y: 0, width: slot, height: H, fill: "transparent" }),
        s("rect", {
          class: `bar${cost > 0 ? "" : " zero"}${i === days.length - 1 ? " today" : ""}`,
          x: i * slot + slot * 0.14, y: H - height, width: slot * 0.72, height, rx: 1,
        })));
    });
    svg.append(s("line", { class: "axis", x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5 }));
    const labels = h("div", { class: "usage-labels" },
      h("span", null, days[0].day.toLocaleDateString([], { day: "numeric", month: "short" })),
      h("span", null, `max ${formatCost(max > 0.0001 ? max : 0)}/day`),
      h("span", null, "today"));
    $("usage-chart").replaceChildren(svg, labels);
    const total = days.reduce((sum, d) => sum + (Number(d.costUsd) || 0), 0);
    const calls = days.reduce((sum, d) => sum + (Number(d.calls) || 0), 0);
    $("usage-total").replaceChildren(h("strong", null, formatCost(total)), ` in 30 days · ${plural(calls, "call")}`);
  }

  // ---------------------------------------------------------------------------------------------
  // memory and dream

  async function loadMemory() {
    const r = await api("/api/memory");
    if (!r.ok) throw new Error(r.data.error);
    $("memory-index").textContent = r.data.index || "";
    const open = new Set([...document.querySelectorAll(".topic[open]")].map((d) => d.dataset.name));
    const topics = r.data.topics || [];
    $("memory-topics").replaceChildren(...topics.map((t) => h("details", {
      class: "card topic", "data-testid": "memory-topic", "data-name": t.name, open: open.has(t.name),
    },
    h("summary", null, h("span", { class: "topic-name" }, t.name),
      h("span", { class: "topic-meta" }, `${formatBytes(t.bytes)} · `, relSpan(t.modifiedAt))),
    h("pre", { class: "mono" }, t.text || ""))));
    $("topics-empty").hidden = topics.length > 0;
  }

  async function loadDream() {
    const r = await api("/api/dream");
    if (!r.ok) throw new Error(r.data.error);
    state.dream = r.data;
    renderDream();
  }

  function renderDream() {
    const info = state.dream;
    if (!info) return;
    const st = info.state || {};
    const running = Boolean(st.running);
    $("dream-phase").textContent = running ? (st.phase || "running") : "idle";
    $("dream-phase").classList.toggle("badge-ok", running);
    $("dream-progress-wrap").hidden = !running;
    const maxTurns = Number(info.maxTurns) || 40;
    $("dream-progress").max = maxTurns;
    $("dream-progress").value = Math.min(Number(st.turns) || 0, maxTurns);
    $("dream-turns").textContent = `${st.turns || 0} of ${maxTurns} turns`;
    $("dream-detail").textContent = st.detail || (!running && info.gate && !info.gate.ok ? `Not yet: ${info.gate.reason}` : "");
    const files = Array.isArray(st.filesTouched) ? st.filesTouched : [];
    $("dream-files").replaceChildren(...(running ? files.map((f) => h("li", null, f)) : []));
    if (running && !Array.isArray(st.filesTouched) && st.filesTouched) {
      $("dream-turns").textContent += ` · ${plural(Number(st.filesTouched), "file")} touched`;
    } else if (running && files.length) {
      $("dream-turns").textContent += ` · ${plural(files.length, "file")} touched`;
    }
    const last = info.lastConsolidatedAt;
    const next = info.nextEligibleAt;
    $("dream-last").replaceChildren(last ? `${when(last)} (${relTime(last)})` : "never");
    $("dream-next").replaceChildren(next ? (toDate(next) <= new Date() ? "now" : `${when(next)} (${relTime(next)})`) : "after the first consolidation");
    $("dream-now").disabled = running;
    $("dream-undo").disabled = running || !info.canUndo;
    const enabled = state.settings ? state.settings.autoDreamEnabled : true;
    $("s-dream-info").textContent = `Last consolidation: ${last ? `${when(last)} (${relTime(last)})` : "never"} · `
      + `next eligible: ${enabled ? (next ? (toDate(next) <= new Date() ? "now" : `${when(next)} (${relTime(next)})`) : "—") : "off"}`;
  }

  function onDream(data) {
    const wasRunning = Boolean(state.dream?.state?.running);
    state.dream = { ...(state.dream || { maxTurns: 40 }), state: data };
    renderDream();
    if (wasRunning && !data.running) {
      loadDream().catch(reportError);
      if (state.view === "memory") loadMemory().catch(reportError);
    }
  }

  async function dreamNow() {
    hideError("dream-error");
    $("dream-now").disabled = true;
    const r = await post("/api/dream", { force: true });
    if (!r.ok) {
      $("dream-now").disabled = false;
      return showError("dream-error", r.data.reason || r.data.error || "The dream could not start.");
    }
    toast("Dreaming…");
  }

  async function undoDream() {
    if (!await confirmDialog("Undo the last dream?", "MEMORY.md and the topics go back to how they were before it.", "Undo")) return;
    const r = await post("/api/dream/undo");
    if (!r.ok) return showError("dream-error", r.data.error || "Nothing to undo.");
    toast("Last dream undone");
    await Promise.all([loadMemory(), loadDream()]);
  }

  // ---------------------------------------------------------------------------------------------
  // field errors

  function showError(id, message, field) {
    const el = $(id);
    el.textContent = message;
    el.hidden = false;
    if (field) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
  }

  function hideError(id) {
    const el = $(id);
    if (el) {
      el.hidden = true;
      el.textContent = "";
    }
  }

  // ---------------------------------------------------------------------------------------------
  // settings

  const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);
  const numberOf = (el) => (el.value.trim() === "" ? Number.NaN : Number(el.value));

  function intField(key, id, { min, max, unit }) {
    return {
      key, inputs: [id],
      get: () => numberOf($(id)),
      set: (v) => { $(id).value = v ?? ""; },
      check: (v) => {
        if (!Number.isFinite(v)) return `Enter a number of ${unit}.`;
        if (v < 0) return "Cannot be negative.";
        if (!Number.isInteger(v)) return `Use whole ${unit}.`;
        if (v < min) return `At least ${min.toLocaleString()} ${unit}.`;
        if (v > max) return `At most ${max.toLocaleString()} ${unit}.`;
        return null;
      },
    };
  }

  function boolField(key, id) {
    return { key, inputs: [id], get: () => $(id).checked, set: (v) => { $(id).checked = Boolean(v); }, check: () => null };
  }

  function listField(key, id) {
    return {
      key, inputs: [id],
      get: () => lines($(id).value),
      set: (v) => { $(id).value = (v || []).join("\n"); },
      check: () => null,
    };
  }

  const FIELDS = [
    {
      key: "assistantName", inputs: ["s-assistantName"],
      get: () => $("s-assistantName").value.trim(),
      set: (v) => { $("s-assistantName").value = v ?? ""; },
      check: (v) => (!v ? "Give the assistant a name." : v.length > 40 ? "At most 40 characters." : null),
    },
    {
      key: "defaultView", inputs: ["s-defaultView"],
      get: () => $("s-defaultView").value,
      set: (v) => { $("s-defaultView").value = v || "chat"; },
      check: (v) => (["chat", "transcript"].includes(v) ? null : "Pick a view."),
    },
    {
      key: "model", inputs: ["s-model"],
      get: () => $("s-model").value.trim(),
      set: (v) => { $("s-model").value = v ?? ""; },
      check: (v) => (!v ? "Enter a model id." : MODEL_PATTERN.test(v) ? null
        : "Not an Anthropic model id: it looks like claude-sonnet-5-5 (lowercase letters, digits, dots and dashes)."),
    },
    {
      key: "minSleepDurationMs", inputs: ["s-minSleep"],
      get: () => {
        const sec = numberOf($("s-minSleep"));
        return Number.isFinite(sec) ? Math.round(sec * 1000) : Number.NaN;
      },
      set: (v) => { $("s-minSleep").value = Number.isFinite(v) ? String(v / 1000) : ""; },
      check: (v) => {
        if (!Number.isFinite(v)) return "Enter a number of seconds.";
        if (v < 0) return "Cannot be negative.";
        if (v < 1000) return "At least 1 second.";
        return null;
      },
    },
    {
      key: "maxSleepDurationMs", inputs: ["s-maxSleep", "s-maxSleepForever"],
      get: () => {
        if ($("s-maxSleepForever").checked) return -1;
        const min = numberOf($("s-maxSleep"));
        return Number.isFinite(min) ? Math.round(min * 60000) : Number.NaN;
      },
      set: (v) => {
        const forever = v === -1;
        $("s-maxSleepForever").checked = forever;
        $("s-maxSleep").disabled = forever;
        $("s-maxSleep").value = forever || !Number.isFinite(v) ? "" : String(+(v / 60000).toFixed(3));
      },
      check: (v) => {
        if (v === -1) return null;
        if (!Number.isFinite(v)) return "Enter a number of minutes, or tick “until something arrives”.";
        if (v < 0) return "Cannot be negative.";
        if (v === 0) return "Must be more than 0 minutes.";
        return null;
      },
    },
    boolField("autoDreamEnabled", "s-autoDreamEnabled"),
    boolField("notificationsEnabled", "s-notificationsEnabled"),
    {
      key: "notifyStatuses", inputs: ["s-notifyNormal", "s-notifyProactive"],
      get: () => [$("s-notifyNormal").checked ? "normal" : null, $("s-notifyProactive").checked ? "proactive" : null].filter(Boolean),
      set: (v) => {
        $("s-notifyNormal").checked = (v || []).includes("normal");
        $("s-notifyProactive").checked = (v || []).includes("proactive");
      },
      check: () => null,
    },
    {
      key: "quietHours", inputs: ["s-quietStart", "s-quietEnd"],
      get: () => ($("s-quietHours").checked ? { start: $("s-quietStart").value, end: $("s-quietEnd").value } : null),
      set: (v) => {
        $("s-quietHours").checked = Boolean(v);
        $("s-quietStart").value = v ? v.start : "22:00";
        $("s-quietEnd").value = v ? v.end : "07:00";
        syncQuiet();
      },
      check: (v) => {
        if (!v) return null;
        if (!v.start || !v.end) return "Pick both times.";
        if (v.start === v.end) return "Start and end must differ.";
        return null;
      },
    },
    {
      key: "inboxDir", inputs: ["s-inboxDir"],
      get: () => $("s-inboxDir").value.trim() || null,
      set: (v) => { $("s-inboxDir").value = v ?? ""; },
      check: () => null,
    },
    boolField("channelsEnabled", "s-channelsEnabled"),
    listField("allowedChannelPlugins", "s-allowedChannelPlugins"),
    boolField("runCommandEnabled", "s-runCommandEnabled"),
    listField("runCommandAllowlist", "s-runCommandAllowlist"),
    intField("approvalTimeoutSeconds", "s-approvalTimeoutSeconds", { min: 5, max: 86400, unit: "seconds" }),
    intField("runCommandTimeoutSeconds", "s-runCommandTimeoutSeconds", { min: 1, max: 3600, unit: "seconds" }),
    intField("runCommandMaxOutputBytes", "s-runCommandMaxOutputBytes", { min: 1000, max: 1000000, unit: "bytes" }),
  ];
  const FIELD_BY_KEY = new Map(FIELDS.map((f) => [f.key, f]));

  function syncQuiet() {
    const on = $("s-quietHours").checked;
    $("s-quietStart").disabled = !on;
    $("s-quietEnd").disabled = !on;
  }

  function syncRunCommand() {
    const on = $("s-runCommandEnabled").checked;
    for (const id of ["s-runCommandAllowlist", "s-approvalTimeoutSeconds", "s-runCommandTimeoutSeconds", "s-runCommandMaxOutputBytes"]) {
      $(id).disabled = !on;
    }
  }

  function dirtyKeys() {
    if (!state.settings) return [];
    return FIELDS.filter((f) => !same(f.get(), state.settings[f.key])).map((f) => f.key);
  }

  function fillSettings(settings, onlyKeys = null) {
    for (const f of FIELDS) {
      if (onlyKeys && !onlyKeys.includes(f.key)) continue;
      f.set(settings[f.key]);
      clearFieldError(f.key);
    }
    syncQuiet();
    syncRunCommand();
    updateDirty();
  }

  function applySettings(settings) {
    // A new server copy: fields the user has not touched follow it; edits in progress stay.
    const dirty = state.settings ? dirtyKeys() : [];
    state.settings = settings;
    fillSettings(settings, FIELDS.map((f) => f.key).filter((k) => !dirty.includes(k)));
    setAssistantName(settings.assistantName);
    if (!state.chatMode && state.renderedMode && state.renderedMode !== chatMode()) setChatMode(chatMode(), false);
    renderInbox();
    renderDream();
  }

  async function loadSettings() {
    const r = await api("/api/settings");
    if (!r.ok) throw new Error(r.data.error);
    applySettings(r.data.settings);
    renderProblems(r.data.problems || []);
    if (r.data.apiKey) renderKey(r.data.apiKey);
  }

  function renderProblems(problems) {
    const list = $("settings-problems");
    list.replaceChildren(...problems.map((p) => h("li", null, p)));
    list.hidden = problems.length === 0;
  }

  function updateDirty() {
    const dirty = dirtyKeys().length > 0;
    $("settings-dirty").hidden = !dirty;
    $("badge-settings").hidden = !dirty;
    $("settings-revert").disabled = !dirty;
    if (dirty) $("settings-saved").hidden = true;
  }

  function setFieldError(key, message) {
    const f = FIELD_BY_KEY.get(key);
    const el = $(`err-${key}`);
    if (!el) {
      showError("settings-error", message);
      return null;
    }
    el.textContent = message;
    el.hidden = false;
    for (const id of f ? f.inputs : []) $(id).setAttribute("aria-invalid", "true");
    return f ? $(f.inputs[0]) : null;
  }

  function clearFieldError(key) {
    const f = FIELD_BY_KEY.get(key);
    hideError(`err-${key}`);
    for (const id of f ? f.inputs : []) $(id).removeAttribute("aria-invalid");
  }

  function validateSettings(keys = FIELDS.map((f) => f.key)) {
    // Returns {key: message} for every problem among `keys` (and the min/max pair).
    const errors = {};
    for (const key of keys) {
      const f = FIELD_BY_KEY.get(key);
      const message = f.check(f.get());
      if (message) errors[key] = message;
    }
    const min = FIELD_BY_KEY.get("minSleepDurationMs").get();
    const max = FIELD_BY_KEY.get("maxSleepDurationMs").get();
    const pair = keys.includes("minSleepDurationMs") || keys.includes("maxSleepDurationMs");
    if (pair && !errors.minSleepDurationMs && !errors.maxSleepDurationMs && max !== -1 && max < min) {
      errors.minSleepDurationMs = `The minimum (${min / 1000} s) is longer than the maximum (${+(max / 60000).toFixed(2)} min).`;
      errors.maxSleepDurationMs = `The maximum must be at least the minimum (${+(min / 60000).toFixed(2)} min), or “until something arrives”.`;
    }
    return errors;
  }

  function showValidation(keys) {
    const errors = validateSettings(keys);
    const touched = new Set(keys);
    if (touched.has("minSleepDurationMs") || touched.has("maxSleepDurationMs")) {
      touched.add("minSleepDurationMs");
      touched.add("maxSleepDurationMs");
    }
    for (const key of touched) {
      if (errors[key]) setFieldError(key, errors[key]);
      else clearFieldError(key);
    }
    return errors;
  }

  function keyOfInput(el) {
    for (const f of FIELDS) if (f.inputs.includes(el.id)) return f.key;
    if (el.id === "s-quietHours") return "quietHours";
    return null;
  }

  async function saveSettings(e) {
    e?.preventDefault();
    hideError("settings-error");
    $("settings-saved").hidden = true;
    const errors = showValidation(FIELDS.map((f) => f.key));
    const bad = Object.keys(errors);
    if (bad.length) {
      const first = FIELDS.find((f) => errors[f.key]);
      $(first.inputs.find((id) => !$(id).disabled) || first.inputs[0]).focus();
      return;
    }
    const changed = {};
    for (const key of dirtyKeys()) changed[key] = FIELD_BY_KEY.get(key).get();
    if (!Object.keys(changed).length) {
      flashSaved("No changes");
      return;
    }
    const button = $("settings-save");
    button.disabled = true;
    try {
      const r = await api("/api/settings", { method: "PATCH", body: changed });
      if (!r.ok) {
        const key = typeof r.data.key === "string" ? r.data.key.split(".")[0] : null;
        const field = key ? setFieldError(key, r.data.error) : (showError("settings-error", r.data.error), null);
        field?.focus();
        return;
      }
      state.settings = null; // everything now equals the server copy
      applySettings(r.data.settings);
      flashSaved("Saved");
    } finally {
      button.disabled = false;
    }
  }

  let savedTimer = 0;
  function flashSaved(text) {
    const el = $("settings-saved");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(savedTimer);
    savedTimer = setTimeout(() => { el.hidden = true; }, 2500);
  }

  function onSettingsInput(e) {
    const key = keyOfInput(e.target);
    if (e.target.id === "s-maxSleepForever") {
      $("s-maxSleep").disabled = e.target.checked;
      if (!e.target.checked && !$("s-maxSleep").value) $("s-maxSleep").value = "55";
    }
    if (e.target.id === "s-quietHours") syncQuiet();
    if (e.target.id === "s-runCommandEnabled") syncRunCommand();
    // Re-check a field that shows an error as the user fixes it.
    if (key && ($(`err-${key}`)?.hidden === false || e.type === "change")) showValidation([key]);
    updateDirty();
  }

  // -- API key --

  function renderKey(info) {
    state.apiKey = info;
    const el = $("apikey-status");
    if (!info.set) {
      el.replaceChildren("No key is set: the assistant cannot think until you add one.");
    } else {
      const where = { keyring: "in the system keyring", file: "in a file only you can read", env: "in the ANTHROPIC_API_KEY environment variable" }[info.source] || "";
      el.replaceChildren("A key is set ", h("code", { "data-testid": "apikey-hint" }, info.hint || "…"), `, stored ${where}.`);
    }
    $("apikey-remove").disabled = !info.set || info.source === "env";
  }

  async function saveKey(e) {
    e.preventDefault();
    hideError("err-apiKey");
    const input = $("apikey-input");
    input.removeAttribute("aria-invalid");
    const key = input.value.trim();
    if (!key) return showError("err-apiKey", "Paste a key first.", input);
    if (/\s/.test(key)) return showError("err-apiKey", "A key has no spaces in it.", input);
    if (!key.startsWith("sk-")) return showError("err-apiKey", "Anthropic keys start with “sk-”.", input);
    const r = await api("/api/key", { method: "PUT", body: { key } });
    if (!r.ok) return showError("err-apiKey", r.data.error || "The key was not saved.", input);
    input.value = "";
    renderKey(r.data.apiKey);
    toast("API key saved");
  }

  async function removeKey() {
    if (!await confirmDialog("Remove the API key?", "The assistant stops calling the model until a new key is set.", "Remove")) return;
    const r = await api("/api/key", { method: "DELETE" });
    if (!r.ok) return showError("err-apiKey", r.data.error || "The key was not removed.");
    renderKey(r.data.apiKey);
    toast("API key removed");
  }

  // ---------------------------------------------------------------------------------------------
  // approvals

  let approvalTicker = 0;

  async function loadApprovals() {
    const r = await api("/api/approvals");
    if (!r.ok) return;
    state.approvals.clear();
    for (const a of r.data) if (a.state === "pending") state.approvals.set(a.id, a);
    renderApprovals();
  }

  function onApproval(data) {
    if (data.state === "pending") {
      state.approvals.set(data.id, data);
      renderApprovals();
      return;
    }
    const known = state.approvals.delete(data.id);
    renderApprovals();
    if (state.decidedHere.has(data.id)) return;
    if (data.state === "expired") toast("Denied: no answer in time");
    else if (known && data.state === "denied") toast(`Denied${data.reason ? `: ${data.reason}` : ""}`);
    else if (known && data.state === "allowed") toast(`Allowed: ${data.command || ""}`);
  }

  // Which approval button has the focus, as {id, action}, or null when the focus is elsewhere.
  function focusedApproval() {
    const el = document.activeElement;
    const item = el?.closest?.(".approval");
    if (!item || !$("approval-list").contains(item)) return null;
    return { id: item.dataset.id, action: el.dataset?.testid || null };
  }

  // After the list was rebuilt, give the focus back to the very button that had it. If that
  // request is gone, the focus goes to the banner's heading (Enter there does nothing), or back
  // to the view when no request is left: never onto an Allow (or Deny) the user did not choose.
  function restoreApprovalFocus(had) {
    if (!had) return;
    const item = [...$("approval-list").children].find((li) => li.dataset.id === had.id);
    const button = item && had.action ? item.querySelector(`[data-testid="${CSS.escape(had.action)}"]`) : null;
    if (button && !button.disabled) button.focus({ preventScroll: true });
    else if (state.approvals.size) $("approvals-title").focus({ preventScroll: true });
    else if (state.view) focusView(state.view);
  }

  function renderApprovals(had = focusedApproval()) {
    const items = [...state.approvals.values()].sort((a, b) => String(a.requestedAt).localeCompare(String(b.requestedAt)));
    const list = $("approval-list");
    list.replaceChildren(...items.map((a) => h("li", { class: "approval", "data-testid": "approval-item", "data-id": a.id },
      h("pre", { class: "approval-command", "data-testid": "approval-command" }, a.command),
      h("div", { class: "approval-meta" },
        a.cwd ? h("span", { "data-testid": "approval-cwd" }, "in ", h("code", null, a.cwd)) : null,
        h("span", { class: "approval-countdown", "data-testid": "approval-countdown", "data-expires": a.expiresAt }, countdown(a.expiresAt)),
        a.why ? h("span", { class: "approval-why", "data-testid": "approval-why" }, `asked because ${a.why}`) : null),
      h("div", { class: "approval-actions" },
        h("button", { type: "button", class: "btn btn-danger", "data-testid": "approval-deny", disabled: state.decidedHere.has(a.id), onclick: () => decide(a, "deny") }, "Deny"),
        h("button", { type: "button", class: "btn btn-allow", "data-testid": "approval-allow", disabled: state.decidedHere.has(a.id), onclick: () => decide(a, "allow") }, "Allow")))));
    $("approvals").hidden = items.length === 0;
    renderStatus();
    $("approvals-title-text").textContent = items.length > 1 ? `${items.length} commands wait for your approval` : "Waiting for your approval";
    restoreApprovalFocus(had);
    clearInterval(approvalTicker);
    if (items.length) approvalTicker = setInterval(tickApprovals, 1000);
  }

  function countdown(expiresAt) {
    const d = toDate(expiresAt);
    if (!d) return "";
    const left = Math.max(0, Math.round((d.getTime() - Date.now()) / 1000));
    if (left === 0) return "time is up";
    const m = Math.floor(left / 60);
    const sec = String(left % 60).padStart(2, "0");
    return `answer within ${m}:${sec}`;
  }

  function tickApprovals() {
    for (const el of document.querySelectorAll("[data-expires]")) el.textContent = countdown(el.dataset.expires);
  }

  async function decide(approval, decision) {
    const had = focusedApproval(); // before the buttons are disabled, which drops the focus
    state.decidedHere.add(approval.id);
    for (const b of document.querySelectorAll(`.approval[data-id="${CSS.escape(approval.id)}"] button`)) b.disabled = true;
    const r = await post(`/api/approvals/${encodeURIComponent(approval.id)}`, { decision });
    state.approvals.delete(approval.id);
    renderApprovals(had);
    if (r.ok) toast(decision === "allow" ? `Allowed: ${approval.command}` : `Denied: ${approval.command}`);
    else if (r.status === 409 || r.status === 404) toast(r.data.error || "Already decided, or the time ran out.");
    else {
      state.decidedHere.delete(approval.id);
      toast(r.data.error || "The decision was not sent.", "error");
      loadApprovals();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // the live event stream

  let source = null;
  let retryDelay = 2000;

  function connectEvents() {
    source = new EventSource(`/api/events?token=${encodeURIComponent(TOKEN)}`);
    source.onopen = () => {
      retryDelay = 2000;
      if (state.sseBroken) {
        state.sseBroken = false;
        $("conn-banner").hidden = true;
        resync();
      }
      renderStatus();
    };
    source.onerror = () => {
      state.sseBroken = true;
      $("conn-banner").hidden = false;
      renderStatus();
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error): check the token, then try again later.
        source = null;
        setTimeout(async () => {
          try {
            await api("/api/status");
            connectEvents();
          } catch {
            /* unauthorized: the fatal page is shown */
          }
        }, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      }
    };
    for (const name of SSE_EVENTS) {
      source.addEventListener(name, (e) => {
        let data;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        try {
          handleEvent(name, data || {});
        } catch (err) {
          console.error(`event ${name}`, err);
        }
      });
    }
  }

  const refreshTasks = debounce(() => { if (state.view === "tasks") loadTasks().catch(reportError); }, 200);
  const refreshLog = debounce(() => {
    if (state.view === "activity" && (!state.logDate || state.logDate === localDay(new Date()))) loadLog().catch(reportError);
  }, 800);
  const refreshUsage = debounce(() => { if (state.view === "activity") loadUsage().catch(reportError); }, 800);

  function handleEvent(name, data) {
    switch (name) {
      case "message": onMessage(data); refreshLog(); break;
      case "inbound": onInbound(data); refreshLog(); break;
      case "file": onFile(data); break;
      case "inbox": if (data.id) setInboxRead(data.id, data.read !== false); break;
      case "state": applyStatus(data); break;
      case "settings": applySettings(data); break;
      case "usage": refreshUsage(); break;
      case "tool": onTool(data); refreshLog(); break;
      case "task": case "tasks": refreshTasks(); break;
      case "dream": onDream(data); break;
      case "approval": onApproval(data); break;
      default: break;
    }
  }

  async function resync() {
    // After a dropped stream: what changed meanwhile is fetched once.
    try {
      const [st] = await Promise.all([api("/api/status"), loadApprovals()]);
      if (st.ok) applyStatus(st.data);
      await loadView(state.view);
    } catch (err) {
      reportError(err);
    }
  }

  function reportError(err) {
    if (err instanceof AuthError) return;
    console.error(err);
  }

  // ---------------------------------------------------------------------------------------------
  // presence, keyboard, wiring

  function setPresence(focused) {
    if (state.focused === focused) return;
    state.focused = focused;
    post("/api/presence", { focused }).catch(() => {});
    if (focused) markVisibleRead();
  }

  function onKeydown(e) {
    if (e.altKey && !e.ctrlKey && !e.metaKey && /^Digit[1-6]$/.test(e.code)) {
      e.preventDefault();
      const view = VIEWS[Number(e.code.slice(5)) - 1];
      if (location.hash !== `#${view}`) {
        location.hash = view;
        pendingFocus = true;
      } else focusView(view);
      return;
    }
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s" && state.view === "settings") {
      e.preventDefault();
      saveSettings();
    }
  }

  let pendingFocus = false;

  function wire() {
    window.addEventListener("hashchange", () => {
      const { view, mode } = viewFromHash();
      if (mode) setChatMode(mode);
      showView(view, { focus: pendingFocus });
      pendingFocus = false;
    });
    document.addEventListener("keydown", onKeydown);
    window.addEventListener("pagehide", () => {
      // Leave no stream behind: a half-open one would hold the app's shutdown.
      if (source) source.close();
      source = null;
    });
    window.addEventListener("focus", () => setPresence(true));
    window.addEventListener("blur", () => setPresence(false));
    document.addEventListener("visibilitychange", () => setPresence(!document.hidden && document.hasFocus()));
    setInterval(refreshRelativeTimes, 30000);

    // chat
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      sendMessage();
    });
    $("chat-input").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey) {
        e.preventDefault();
        sendMessage();
      }
    });
    $("chat-input").addEventListener("input", autosize);
    for (const btn of document.querySelectorAll(".segmented [role=radio]")) {
      btn.addEventListener("click", () => setChatMode(btn.dataset.mode));
      btn.addEventListener("keydown", (e) => {
        if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(e.key)) {
          e.preventDefault();
          const other = btn.dataset.mode === "chat" ? "transcript" : "chat";
          setChatMode(other);
          $(other === "chat" ? "mode-brief" : "mode-transcript").focus();
        }
      });
    }

    // tasks
    $("task-form").addEventListener("submit", addTask);
    $("task-cron").addEventListener("input", () => {
      hideError("task-error");
      describeCron();
    });
    $("task-prompt").addEventListener("input", () => { hideError("task-error"); $("task-prompt").removeAttribute("aria-invalid"); });
    $("task-prompt").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("task-form").requestSubmit();
    });
    describeCron();

    // activity
    $("log-date").addEventListener("change", () => {
      state.logDate = $("log-date").value;
      loadLog().catch(reportError);
    });
    const search = debounce(() => loadLog().catch(reportError), 250);
    $("log-search").addEventListener("input", search);

    // memory
    $("dream-now").addEventListener("click", dreamNow);
    $("dream-undo").addEventListener("click", undoDream);

    // settings
    $("settings-form").addEventListener("submit", saveSettings);
    $("settings-form").addEventListener("input", onSettingsInput);
    $("settings-form").addEventListener("change", onSettingsInput);
    $("settings-form").addEventListener("focusout", (e) => {
      const key = keyOfInput(e.target);
      if (key && e.target.value !== undefined && e.target.type !== "checkbox") showValidation([key]);
    });
    $("settings-revert").addEventListener("click", () => {
      if (state.settings) fillSettings(state.settings);
      hideError("settings-error");
    });
    $("key-form").addEventListener("submit", saveKey);
    $("apikey-remove").addEventListener("click", removeKey);
    $("apikey-input").addEventListener("input", () => {
      hideError("err-apiKey");
      $("apikey-input").removeAttribute("aria-invalid");
    });

    // sidebar
    $("wake-btn").addEventListener("click", async () => {
      const r = await post("/api/wake");
      toast(r.ok ? `${state.assistantName} is waking up` : r.data.error, r.ok ? "info" : "error");
    });
    $("pause-btn").addEventListener("click", async () => {
      const resume = $("pause-btn").dataset.paused === "1";
      const r = await post(resume ? "/api/resume" : "/api/pause");
      if (!r.ok) return toast(r.data.error, "error");
      applyStatus({ paused: !resume, state: resume ? state.status.state : "paused" });
      if (resume) {
        const st = await api("/api/status");
        if (st.ok) applyStatus(st.data);
      }
    });
  }

  async function boot() {
    TOKEN = await acquireToken();
    if (!TOKEN) {
      if (TOKEN === "") showFatal(); // null: acquireToken said what went wrong
      return;
    }
    wire();
    try {
      connectEvents();
      const [st, se] = await Promise.all([api("/api/status"), api("/api/settings"), loadApprovals(),
        loadInbox().catch(reportError)]);
      if (st.ok) applyStatus(st.data);
      if (se.ok) {
        applySettings(se.data.settings);
        renderProblems(se.data.problems || []);
        if (se.data.apiKey) renderKey(se.data.apiKey);
      }
      const { view, mode } = viewFromHash();
      if (mode) state.chatMode = mode;
      setChatMode(chatMode(), false);
      await showView(view, { focus: view === "chat" });
      setPresence(document.hasFocus());
      requestAnimationFrame(() => {
        if (state.readySent) return;
        state.readySent = true;
        post("/api/panel/ready").catch(() => {});
      });
    } catch (err) {
      reportError(err);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
