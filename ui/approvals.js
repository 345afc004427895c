/* Commands waiting for the user's Allow or Deny: the banner on top of every view, with a
 * countdown. A redraw never moves the focus onto a button the user did not choose. */

import { api, post } from "./api.js";
import { $, h } from "./dom.js";
import { toast } from "./feedback.js";
import { toDate } from "./format.js";
import { state } from "./state.js";
import { renderStatus } from "./status.js";
import { focusView } from "./views.js";

const decidedHere = new Set(); // ids this page answered: their events need no toast
let ticker = 0;

export async function loadApprovals() {
  const r = await api("/api/approvals");
  if (!r.ok) return;
  state.approvals.clear();
  for (const a of r.data) if (a.state === "pending") state.approvals.set(a.id, a);
  renderApprovals();
}

// The "approval" event: a request arrived, or was decided (here, elsewhere, or by the clock).
export function onApproval(data) {
  if (data.state === "pending") {
    state.approvals.set(data.id, data);
    renderApprovals();
    return;
  }
  const known = state.approvals.delete(data.id);
  renderApprovals();
  if (decidedHere.has(data.id)) return;
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
      h("button", { type: "button", class: "btn btn-danger", "data-testid": "approval-deny", disabled: decidedHere.has(a.id), onclick: () => decide(a, "deny") }, "Deny"),
      h("button", { type: "button", class: "btn btn-allow", "data-testid": "approval-allow", disabled: decidedHere.has(a.id), onclick: () => decide(a, "allow") }, "Allow")))));
  $("approvals").hidden = items.length === 0;
  renderStatus();
  $("approvals-title-text").textContent = items.length > 1 ? `${items.length} commands wait for your approval` : "Waiting for your approval";
  restoreApprovalFocus(had);
  clearInterval(ticker);
  if (items.length) ticker = setInterval(tickApprovals, 1000);
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
  decidedHere.add(approval.id);
  for (const b of document.querySelectorAll(`.approval[data-id="${CSS.escape(approval.id)}"] button`)) b.disabled = true;
  const r = await post(`/api/approvals/${encodeURIComponent(approval.id)}`, { decision });
  state.approvals.delete(approval.id);
  renderApprovals(had);
  if (r.ok) toast(decision === "allow" ? `Allowed: ${approval.command}` : `Denied: ${approval.command}`);
  else if (r.status === 409 || r.status === 404) toast(r.data.error || "Already decided, or the time ran out.");
  else {
    decidedHere.delete(approval.id);
    toast(r.data.error || "The decision was not sent.", "error");
    loadApprovals();
  }
}
