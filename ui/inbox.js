/* The inbox view: files the assistant delivered, newest first, unread in bold, with Open, Show
 * in folder and Mark read; and the unread count on the nav. */

import { api, post } from "./api.js";
import { $, h } from "./dom.js";
import { toast } from "./feedback.js";
import { formatBytes, relSpan } from "./format.js";
import { onSettings, state } from "./state.js";

let inbox = [];
const byPath = new Map(); // path -> item (the chat links attachments through it)

export function inboxItemByPath(path) {
  return byPath.get(path);
}

export async function loadInbox() {
  const r = await api("/api/inbox");
  if (!r.ok) throw new Error(r.data.error);
  inbox = r.data;
  for (const item of inbox) byPath.set(item.path, item);
  renderInbox();
}

function renderInbox() {
  const list = $("inbox-list");
  list.replaceChildren(...inbox.map(inboxItemEl));
  $("inbox-empty").hidden = inbox.length > 0;
  const folder = state.settings?.inboxDir;
  $("inbox-folder").textContent = folder ? `Folder: ${folder}` : "";
  const unread = inbox.filter((i) => !i.read).length;
  $("badge-inbox").hidden = unread === 0;
  $("badge-inbox").textContent = String(unread);
  $("badge-inbox").setAttribute("aria-label", `${unread} unread`);
}

onSettings(renderInbox);

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

export function setInboxRead(id, read = true) {
  const item = inbox.find((i) => i.id === id);
  if (item && item.read !== read) {
    item.read = read;
    renderInbox();
  }
}

export async function openInboxItem(id) {
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

// The "file" event: a file was delivered.
export function onFile(data) {
  byPath.set(data.path, data);
  if (!inbox.some((i) => i.id === data.id)) inbox.unshift({ read: false, ...data });
  renderInbox();
}
