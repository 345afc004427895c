/* The chat view: your messages and the assistant's (brief mode), the switch to the transcript
 * mode, the composer. A sent message shows at once as "sending…" and is matched with the
 * engine's inbound event, so it is never shown twice. */

import { api, post, reportError } from "./api.js";
import { $, debounce, h, s, same } from "./dom.js";
import { hideError, showError } from "./feedback.js";
import { toDate, when } from "./format.js";
import { inboxItemByPath, openInboxItem } from "./inbox.js";
import { renderMarkdown } from "./markdown.js";
import { nearBottom, scrollChat } from "./scroll.js";
import { onSettings, state } from "./state.js";
import { appendUserText, loadTranscript } from "./transcript.js";

const chat = new Map(); // id (or local id) -> {item, el}
const FIRST_PAGE = 200; // chat items loaded at first; older ones a page at a time on scrolling up
const OLDER_PAGE = 100;
let olderDone = false; // the oldest item is shown
let olderLoading = false;
let userMode = null; // null = follow settings.defaultView
let renderedMode = null;
let localSeq = 0;

function chatMode() {
  return userMode || (state.settings && state.settings.defaultView) || "chat";
}

export function setChatMode(mode, userChoice = true) {
  if (userChoice) userMode = mode;
  renderedMode = mode;
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

// At boot: the mode the #hash asked for, else the one the settings name.
export function startChat(hashMode) {
  if (hashMode) userMode = hashMode;
  setChatMode(chatMode(), false);
}

onSettings(() => {
  if (!userMode && renderedMode && renderedMode !== chatMode()) setChatMode(chatMode(), false);
});

export async function loadChat() {
  const jobs = [api(`/api/chat?limit=${FIRST_PAGE}`)];
  if (chatMode() === "transcript") jobs.push(loadTranscript());
  const [r] = await Promise.all(jobs);
  if (!r.ok) throw new Error(r.data.error);
  for (const item of r.data) upsertChat(item);
  olderDone = r.data.length < FIRST_PAGE;
  updateChatEmpty();
  scrollChat(true);
  markVisibleRead();
}

// Scrolled near the top: the page above the oldest item shown (GET /api/chat?before= its
// stamp), put above it with the view kept where it was.
async function loadOlder() {
  if (olderDone || olderLoading || chatMode() === "transcript") return;
  const list = $("chat-list");
  const anchor = list.firstElementChild;
  const entry = anchor && chat.get(anchor.dataset.id);
  if (!entry) return;
  olderLoading = true;
  try {
    const before = encodeURIComponent(entry.item.at || entry.item.createdAt);
    const r = await api(`/api/chat?limit=${OLDER_PAGE}&before=${before}`);
    if (!r.ok) throw new Error(r.data.error);
    const fresh = r.data.filter((item) => item.id && !chat.has(item.id));
    olderDone = r.data.length < OLDER_PAGE || !fresh.length;
    const sc = $("chat-scroll");
    const fromBottom = sc.scrollHeight - sc.scrollTop;
    for (const item of fresh) { // oldest first, all older than the anchor
      const el = chatItemEl(item);
      list.insertBefore(el, anchor);
      chat.set(item.id, { item, el });
    }
    sc.scrollTop = sc.scrollHeight - fromBottom;
  } finally {
    olderLoading = false;
  }
}

function attachmentFromPath(path) {
  const inboxItem = inboxItemByPath(path);
  return { name: path.split(/[\\/]/).pop(), path, inboxId: inboxItem ? inboxItem.id : null };
}

function upsertChat(item, key = item.id) {
  const existing = chat.get(key);
  if (existing) {
    if (same(existing.item, item)) return existing.el;
    const el = chatItemEl(item);
    existing.el.replaceWith(el);
    chat.set(key, { item, el });
    return el;
  }
  const el = chatItemEl(item);
  const list = $("chat-list");
  // Usually the newest: append. Otherwise insert before the first later item. Stamps have
  // one-second resolution (a fast reply shares its question's second): within a second your
  // words come first, and nothing goes before a message of yours that has only this
  // browser's clock (sending, or sent before the app's stamp arrived): it came first.
  // Records carry a finer stamp too ("at"): where both have one, it decides.
  const t = Number(el.dataset.time);
  const rank = item.role === "user" ? 0 : 1;
  let before = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (node.dataset.local === "1") break;
    const later = node.dataset.fine === "1" && el.dataset.fine === "1" ? Number(node.dataset.time) - t
      : Math.floor(Number(node.dataset.time) / 1000) - Math.floor(t / 1000)
        || (node.dataset.role === "user" ? 0 : 1) - rank;
    if (later > 0) before = node;
    else break;
  }
  list.insertBefore(el, before);
  chat.set(key, { item, el });
  updateChatEmpty();
  return el;
}

function chatItemEl(item) {
  const isUser = item.role === "user";
  const status = item.status || (isUser ? null : "normal");
  const classes = ["msg", isUser ? "msg-user" : "msg-assistant"];
  if (status === "proactive") classes.push("msg-proactive");
  if (status === "system") classes.push("msg-system");
  if (status === "push" || status === "file") classes.push("msg-event");
  if (!isUser && item.read === false) classes.push("msg-unread");
  if (item.pending) classes.push("pending");
  if (item.failed) classes.push("failed");
  const meta = h("div", { class: "msg-meta" },
    isUser ? null : h("span", { class: "msg-name" }, state.assistantName),
    status === "proactive" ? h("span", { class: "badge badge-proactive", "data-testid": "chat-badge-proactive" }, "proactive") : null,
    status === "system" ? h("span", { class: "badge badge-system", "data-testid": "chat-badge-system" }, "system") : null,
    status === "push" ? h("span", { class: "badge badge-system", "data-testid": "chat-badge-push" }, "notification") : null,
    status === "file" ? h("span", { class: "badge badge-system", "data-testid": "chat-badge-file" }, "file") : null,
    h("time", { datetime: item.createdAt, title: toDate(item.createdAt)?.toLocaleString() }, when(item.createdAt)),
    item.pending ? h("span", null, "sending…") : null,
    item.failed ? h("span", null, "not sent") : null,
  );
  const bubble = h("div", { class: "bubble", "data-testid": "chat-text" });
  if (isUser) bubble.textContent = item.text;
  else if (status === "file") bubble.append(h("p", null, `Sent you a file: ${item.text}`));
  else bubble.append(renderMarkdown(item.text));
  const attachments = (item.attachments || []).map((a) => attachmentEl(typeof a === "string" ? attachmentFromPath(a) : a));
  if (attachments.length) bubble.append(h("div", { class: "attachments" }, attachments));
  const li = h("li", {
    class: classes.join(" "), "data-testid": "chat-item", "data-id": item.id || "",
    "data-role": item.role, "data-status": status || "",
  }, meta, bubble);
  li.dataset.time = String(toDate(item.at || item.createdAt)?.getTime() ?? Date.now());
  if (item.at) li.dataset.fine = "1";
  if (item.local) li.dataset.local = "1";
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
  $("chat-empty").hidden = chatMode() === "transcript" || chat.size > 0;
}

// Assistant messages count as read once they were on screen in a focused window.
export const markVisibleRead = debounce(() => {
  if (state.view !== "chat" || !document.hasFocus() || document.hidden) return;
  for (const { item, el } of chat.values()) {
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
  const item = { id: null, role: "user", text, status: null, createdAt: new Date().toISOString(), attachments: [], pending: true, local: true };
  upsertChat(item, localId);
  scrollChat(true);
  appendUserText(text, new Date().toISOString());
  const r = await post("/api/send", { text });
  const entry = chat.get(localId);
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
  chat.delete(localId);
  if (id && chat.has(id)) {
    entry.el.remove(); // the inbound event already showed it
    return;
  }
  const done = { ...entry.item, id, pending: false };
  const el = chatItemEl(done);
  entry.el.replaceWith(el);
  chat.set(id || localId, { item: done, el });
}

// The "inbound" event: a message from the user (this page's, another's, or `kairos send`).
export function onInbound(data) {
  if (data.kind && data.kind !== "user") return;
  const known = chat.get(data.id);
  if (known) { // ours, sent: it takes the app's stamp
    if (known.item.local) {
      const item = { ...known.item, local: false, createdAt: data.createdAt || known.item.createdAt };
      const el = chatItemEl(item);
      known.el.replaceWith(el);
      chat.set(data.id, { item, el });
    }
    return;
  }
  // Our own message whose POST has not answered yet: adopt the local bubble.
  for (const [key, entry] of chat) {
    if (entry.item.pending && entry.item.text === (data.text || "").trim()) {
      chat.delete(key);
      const item = { ...entry.item, id: data.id, pending: false, local: false, createdAt: data.createdAt || entry.item.createdAt };
      const el = chatItemEl(item);
      entry.el.replaceWith(el);
      chat.set(data.id, { item, el });
      return;
    }
  }
  upsertChat({ id: data.id, role: "user", text: data.text, status: null, createdAt: data.createdAt, read: true, attachments: [] });
  appendUserText(data.text, data.createdAt);
  scrollChat();
}

// The "file" event: a file delivered on its own is an answer too (one that came with a message
// is shown in that message, which follows its file's event: see onMessage).
export function onChatFile(data) {
  if (!data.id || !data.path) return;
  const item = {
    id: `file-${data.id}`, role: "assistant", kind: "file", text: data.title || data.name, status: "file",
    createdAt: data.deliveredAt, read: true,
    attachments: [{ name: data.name || data.path.split(/[\\/]/).pop(), path: data.path, inboxId: data.id }],
  };
  const stick = nearBottom();
  upsertChat(item);
  if (stick) scrollChat(true);
}

// The "message" event: the assistant said something.
export function onMessage(data) {
  for (const path of data.attachments || []) {
    const file = inboxItemByPath(typeof path === "string" ? path : path.path);
    const entry = file && chat.get(`file-${file.id}`);
    if (entry) {
      entry.el.remove();
      chat.delete(`file-${file.id}`);
    }
  }
  const item = {
    id: data.id, role: "assistant", text: data.text, status: data.status || "normal",
    createdAt: data.createdAt, at: data.at, read: data.read ?? false,
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

export function wireChat() {
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
  $("chat-scroll").addEventListener("scroll", () => {
    if ($("chat-scroll").scrollTop < 300) loadOlder().catch(reportError);
  });
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
}
