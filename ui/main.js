/* kairos-desktop panel: the entry point. It gets the token, wires every view to the page and
 * to the live event stream, loads what the sidebar needs, shows the #view and tells the app
 * the page is ready.
 *
 * Plain ES modules with no build step: the page is served by the engine's control API and
 * shown in a pywebview window or a browser tab. Everything it knows comes from the JSON API
 * (api.js) and the event stream (events.js); the page never polls. CSP forbids inline scripts
 * and style attributes, so styling is done through classes in app.css (element.style only for
 * the composer's height).
 */

import { refreshLog, loadLog, wireActivity } from "./activity.js";
import { acquireToken, api, post, reportError, showFatal } from "./api.js";
import { renderKey, wireApiKey } from "./apikey.js";
import { loadApprovals, onApproval } from "./approvals.js";
import { loadChat, markVisibleRead, onChatFile, onInbound, onMessage, setChatMode, startChat, wireChat } from "./chat.js";
import { loadDream, onDream, wireDream } from "./dream.js";
import { closeEvents, connectEvents, on } from "./events.js";
import { loadHeld, onHeld } from "./held.js";
import { refreshRelativeTimes } from "./format.js";
import { loadInbox, onFile, setInboxRead } from "./inbox.js";
import { loadMemory } from "./memory.js";
import { applySettings, ensureForm, loadSettings, renderProblems, saveSettings, wireSettings } from "./settings.js";
import { state } from "./state.js";
import { applyBudget, applyStatus, renderStatus, wireStatus } from "./status.js";
import { loadTasks, refreshTasks, wireTasks } from "./tasks.js";
import { onTool } from "./transcript.js";
import { loadUsage, refreshUsage } from "./usage.js";
import { VIEWS, focusView, loadView, registerView, showView, viewFromHash } from "./views.js";

registerView("chat", loadChat);
registerView("inbox", loadInbox);
registerView("tasks", loadTasks);
registerView("activity", () => Promise.all([loadLog(), loadUsage()]));
registerView("memory", () => Promise.all([loadMemory(), loadDream()]));
registerView("settings", () => Promise.all([loadSettings(), loadDream()]));

on("message", onMessage, refreshLog);
on("inbound", onInbound, refreshLog);
on("file", onFile, onChatFile);
on("inbox", (data) => { if (data.id) setInboxRead(data.id, data.read !== false); });
on("state", applyStatus);
on("settings", applySettings);
on("usage", refreshUsage);
on("budget", applyBudget, refreshUsage);
on("tool", onTool, refreshLog);
on("task", refreshTasks);
on("tasks", refreshTasks);
on("dream", onDream);
on("approval", onApproval);
on("held", onHeld);

// After a dropped stream: what changed meanwhile is fetched once.
async function resync() {
  try {
    const [st] = await Promise.all([api("/api/status"), loadApprovals(), loadHeld()]);
    if (st.ok) applyStatus(st.data);
    await loadView(state.view);
  } catch (err) {
    reportError(err);
  }
}

let focused = null;
function setPresence(now) {
  if (focused === now) return;
  focused = now;
  post("/api/presence", { focused: now }).catch(() => {});
  if (now) markVisibleRead();
}

let pendingFocus = false;
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

function wire() {
  window.addEventListener("hashchange", () => {
    const { view, mode } = viewFromHash();
    if (mode) setChatMode(mode);
    showView(view, { focus: pendingFocus });
    pendingFocus = false;
  });
  document.addEventListener("keydown", onKeydown);
  window.addEventListener("pagehide", closeEvents);
  window.addEventListener("focus", () => setPresence(true));
  window.addEventListener("blur", () => setPresence(false));
  document.addEventListener("visibilitychange", () => setPresence(!document.hidden && document.hasFocus()));
  setInterval(() => {
    refreshRelativeTimes();
    renderStatus();
  }, 30000);
  wireChat();
  wireTasks();
  wireActivity();
  wireDream();
  wireSettings();
  wireApiKey();
  wireStatus();
}

async function boot() {
  const token = await acquireToken();
  if (!token) {
    if (token === "") showFatal(); // null: acquireToken said what went wrong
    return;
  }
  wire();
  try {
    connectEvents(resync);
    const [st, se] = await Promise.all([api("/api/status"), api("/api/settings"), loadApprovals(),
      loadInbox().catch(reportError), ensureForm().catch(reportError), loadHeld().catch(reportError)]);
    if (st.ok) applyStatus(st.data);
    if (se.ok) {
      applySettings(se.data.settings);
      renderProblems(se.data.problems || []);
      if (se.data.apiKey) renderKey(se.data.apiKey);
    }
    const { view, mode } = viewFromHash();
    startChat(mode);
    await showView(view, { focus: view === "chat" });
    setPresence(document.hasFocus());
    requestAnimationFrame(() => post("/api/panel/ready").catch(() => {}));
  } catch (err) {
    reportError(err);
  }
}

boot();
