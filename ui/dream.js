/* The dream (memory consolidation): its phase, turns and files while it runs, when it last ran
 * and may run next (in the memory view and under the setting), Dream now and Undo last dream. */

import { api, post, reportError } from "./api.js";
import { $, h } from "./dom.js";
import { confirmDialog, hideError, showError, toast } from "./feedback.js";
import { plural, relTime, toDate, when } from "./format.js";
import { loadMemory } from "./memory.js";
import { onSettings, state } from "./state.js";

let dream = null; // GET /api/dream, its state kept current by the "dream" event

export async function loadDream() {
  const r = await api("/api/dream");
  if (!r.ok) throw new Error(r.data.error);
  dream = r.data;
  renderDream();
}

function renderDream() {
  const info = dream;
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
  $("dream-next").replaceChildren(next ? (toDate(next) <= new Date() ? "now" : `${when(next)} (${relTime(next)})`) : waitingFor(info));
  $("dream-now").disabled = running;
  $("dream-undo").disabled = running || !info.canUndo;
  const enabled = state.settings ? state.settings.autoDreamEnabled : true;
  const settingInfo = $("s-dream-info");
  if (settingInfo) {
    settingInfo.textContent = `Last consolidation: ${last ? `${when(last)} (${relTime(last)})` : "never"} · `
      + `next eligible: ${enabled ? (next ? (toDate(next) <= new Date() ? "now" : `${when(next)} (${relTime(next)})`) : waitingFor(info)) : "off"}`;
  }
}

// No time to give: what the next dream waits for, in the gate's words ("1 active session-day(s)
// since the last consolidation (dreamMinSessions is 5)", "no API key: ..."), not a guess.
function waitingFor(info) {
  const reason = info.gate && !info.gate.ok ? info.gate.reason : "";
  return reason ? `not yet: ${reason}` : "when you have been away a while";
}

onSettings(renderDream);

// The "dream" event: a dream's progress. When one ends, what it wrote is fetched again.
export function onDream(data) {
  const wasRunning = Boolean(dream?.state?.running);
  dream = { ...(dream || { maxTurns: 40 }), state: data };
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

export function wireDream() {
  $("dream-now").addEventListener("click", dreamNow);
  $("dream-undo").addEventListener("click", undoDream);
}
