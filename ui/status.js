/* The sidebar: the status pill (sleeping, working, paused… and when it wakes), the assistant's
 * name wherever it is shown, and the Wake now and Pause buttons; the daily budget's banner with
 * its Raise budget button while the budget is reached. */

import { api, post } from "./api.js";
import { $ } from "./dom.js";
import { toast } from "./feedback.js";
import { formatCost, relTime, when } from "./format.js";
import { onSettings, state } from "./state.js";
import { updateTitle } from "./views.js";

// [state, next wake or detail]
function statusText(st) {
  switch (st.state) {
    case "sleeping":
      return ["Sleeping", st.sleepingUntil ? `wakes ${relTime(st.sleepingUntil)}`
        : "until something arrives"];
    case "working":
      return ["Working…", state.approvals.size ? "waiting for your approval" : (st.detail || "")];
    case "paused": return ["Paused", "wakes only when resumed"];
    case "budget": return ["Daily budget reached", "no model call until midnight"];
    case "no_api_key": return ["No API key", "add one in Settings"];
    case "offline": return ["Offline", "retrying"];
    case "error": return ["Error", st.detail || ""];
    case "starting": return ["Starting…", ""];
    case "stopped": return ["Stopped", ""];
    default: return [st.state || "connecting…", ""];
  }
}

export function renderStatus() {
  const st = state.status || {};
  const pill = $("status-pill");
  const shown = state.sseBroken ? "disconnected" : (st.state || "starting");
  pill.dataset.state = shown;
  // "No API key: add one in Settings" takes you there (apikey.js).
  const needsKey = shown === "no_api_key";
  pill.classList.toggle("pill-link", needsKey);
  if (needsKey) pill.tabIndex = 0;
  else pill.removeAttribute("tabindex");
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
  renderBudget(st.budget);
}

// The budget as status and the "budget" events carry it ({spentUsd, capUsd, state, ...}).
function renderBudget(budget) {
  const reached = budget?.state === "reached";
  $("budget-banner").hidden = !reached;
  if (!reached) return;
  $("budget-text").textContent = `Today's budget is reached: ${formatCost(budget.spentUsd)} spent of `
    + `${formatCost(budget.capUsd)}. No model call until midnight; scheduled reminders are still delivered.`;
  $("budget-raise").textContent = `Raise today's budget to ${formatCost(raisedCap(budget))}`;
}

// The button's offer: double today's budget, and at least half as much again as is spent, in
// whole cents above the spend (a raise must be above both).
function raisedCap(budget) {
  const cap = Number(budget.capUsd) || 1;
  const spent = Number(budget.spentUsd) || 0;
  const cents = Math.ceil(Math.max(cap * 2, spent + cap, spent * 1.5) * 100);
  return Math.max(cents, Math.floor(spent * 100) + 1) / 100;
}

export function applyBudget(budget) {
  state.status = { ...state.status, budget };
  renderBudget(budget);
}

export function applyStatus(data) {
  state.status = { ...state.status, ...data };
  if (data.assistantName) setAssistantName(data.assistantName);
  renderStatus();
}

function setAssistantName(name) {
  if (!name) return;
  state.assistantName = name;
  $("assistant-name").textContent = name;
  $("chat-input").placeholder = `Message ${name}…  (Enter sends, Shift+Enter for a new line)`;
  updateTitle();
  for (const el of document.querySelectorAll(".msg-assistant .msg-name")) el.textContent = name;
  renderStatus();
}

onSettings((settings) => setAssistantName(settings.assistantName));

export function wireStatus() {
  $("budget-raise").addEventListener("click", async () => {
    const budget = state.status?.budget;
    if (!budget) return;
    const r = await post("/api/budget/raise", { capUsd: raisedCap(budget) });
    if (!r.ok) return toast(r.data.error, "error");
    applyBudget(r.data);
    toast(`Today's budget is now ${formatCost(r.data.capUsd)}; ${state.assistantName} goes on`, "info");
  });
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
