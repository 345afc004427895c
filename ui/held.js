/* What the model API refused and the assistant set aside (held): a notice above the chat's
 * composer naming each item, why it was refused, where its full text went, and Retry / Drop.
 * Loaded at start and after a dropped stream; the "held" event (an item set aside, retried or
 * dropped, here or from `kairos queue`) reloads it: the list is short, nothing polls. */

import { api, post, reportError } from "./api.js";
import { $, h } from "./dom.js";
import { confirmDialog, toast } from "./feedback.js";

let items = [];

export async function loadHeld() {
  const r = await api("/api/held");
  if (!r.ok) return;
  items = Array.isArray(r.data) ? r.data : [];
  renderHeld();
}

export function onHeld() {
  loadHeld().catch(reportError);
}

function what(item) {
  if (item.kind === "user") return "Your message";
  if (item.kind === "cron") return "A scheduled task's prompt";
  return `A ${item.kind} event`;
}

function size(item) {
  return item.chars >= 2000 ? ` (${item.chars.toLocaleString()} characters)` : "";
}

function renderHeld() {
  $("held-list").replaceChildren(...items.map((item) => h("li", { class: "held-item", "data-testid": "held-item", "data-id": item.id },
    h("p", { class: "held-what", "data-testid": "held-what" }, `${what(item)}${size(item)}: `,
      h("q", { class: "held-preview" }, item.preview)),
    h("p", { class: "held-why", "data-testid": "held-why" }, `Not sent: ${item.reason}`),
    item.file ? h("p", { class: "held-file", "data-testid": "held-file" }, "Its full text is in your inbox: ", h("code", null, item.file)) : null,
    h("div", { class: "held-actions" },
      h("button", { type: "button", class: "btn", "data-testid": "held-retry", onclick: () => retry(item) }, "Retry"),
      h("button", { type: "button", class: "btn btn-danger", "data-testid": "held-drop", onclick: () => drop(item) }, "Drop")))));
  $("held").hidden = items.length === 0;
  $("held-title").textContent = items.length === 1
    ? "Set aside: the model API refused this, everything else goes on"
    : `Set aside: the model API refused these ${items.length}, everything else goes on`;
}

function settle(item) {
  items = items.filter((each) => each.id !== item.id);
  renderHeld();
}

async function retry(item) {
  const r = await post(`/api/held/${encodeURIComponent(item.id)}/retry`);
  if (r.ok) {
    settle(item);
    toast("Sent again as it was");
  } else toast(r.data.error || "It was not sent again.", "error");
}

async function drop(item) {
  const ok = await confirmDialog("Drop it?", `“${item.preview}” will never be sent. Its text stays only where it was handed back to you, if it was.`, "Drop");
  if (!ok) return;
  const r = await api(`/api/held/${encodeURIComponent(item.id)}`, { method: "DELETE" });
  if (r.ok) {
    settle(item);
    toast("Dropped");
  } else toast(r.data.error || "It was not dropped.", "error");
}
