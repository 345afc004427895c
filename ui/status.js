/* The sidebar: the status pill (sleeping, working, paused… and when it wakes), the assistant's
 * name wherever it is shown, and the Wake now and Pause buttons. */

import { api, post } from "./api.js";
import { $ } from "./dom.js";
import { toast } from "./feedback.js";
import { relTime, when } from "./format.js";
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
