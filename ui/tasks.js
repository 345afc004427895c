/* The tasks view: every scheduled task with its cron in words, its next fire time and what it
 * does with a run missed while the computer slept (its last skipped gap shown), the add form
 * that explains a cron expression as it is typed, and Delete. */

import { api, post, reportError } from "./api.js";
import { $, debounce, h } from "./dom.js";
import { confirmDialog, hideError, showError, toast } from "./feedback.js";
import { relSpan, relTime, toDate, when } from "./format.js";
import { state } from "./state.js";

let tasks = [];
let cronSeq = 0;

export async function loadTasks() {
  const r = await api("/api/tasks");
  if (!r.ok) throw new Error(r.data.error);
  tasks = r.data;
  renderTasks();
}

// The "task"/"tasks" events: the list changed somewhere (the assistant, the CLI).
export const refreshTasks = debounce(() => { if (state.view === "tasks") loadTasks().catch(reportError); }, 200);

function renderTasks() {
  const sorted = [...tasks].sort((a, b) => (toDate(a.nextDueAt || a.nextSlotAt)?.getTime() ?? Infinity)
    - (toDate(b.nextDueAt || b.nextSlotAt)?.getTime() ?? Infinity));
  $("tasks-body").replaceChildren(...sorted.map(taskRowEl));
  $("tasks-empty").hidden = sorted.length > 0;
}

function taskRowEl(task) {
  const next = task.nextDueAt || task.nextSlotAt;
  return h("tr", { "data-testid": "task-row", "data-id": task.id },
    h("td", { class: "task-prompt" },
      task.builtin ? h("span", { class: "badge", "data-testid": "task-builtin", title: `Built-in: ${task.builtin}` }, "built-in") : null,
      task.recurring ? null : h("span", { class: "badge badge-ok" }, "once"),
      task.catchUp === "skip" ? h("span", { class: "badge", "data-testid": "task-skips",
        title: "A run missed while the computer slept is skipped, not run late" }, "skips missed runs") : null,
      h("span", { "data-testid": "task-prompt-text" }, task.prompt),
      task.lastMissed ? h("small", { class: "task-missed", "data-testid": "task-missed" },
        `${task.lastMissed.text} (noticed ${when(task.lastMissed.at)})`) : null),
    h("td", null,
      h("div", { class: "task-desc", "data-testid": "task-description" }, task.description || ""),
      h("div", { class: "task-cron" }, task.cron), endsEl(task)),
    h("td", { class: "task-next", "data-testid": "task-next" },
      next ? [relSpan(next), h("small", null, when(next))] : "—"),
    h("td", null, h("button", {
      type: "button", class: "btn btn-small btn-danger", "data-testid": "task-delete",
      "aria-label": `Delete task: ${task.prompt}`,
      onclick: () => deleteTask(task),
    }, "Delete")));
}

// A recurring task that is not permanent ends after recurringMaxAgeMs (7 days): say when.
function endsEl(task) {
  const maxAge = Number(state.settings?.recurringMaxAgeMs);
  const created = toDate(task.createdAt);
  if (!task.recurring || task.permanent || !maxAge || !created) return null;
  const end = new Date(created.getTime() + maxAge);
  return h("small", { class: "task-ends", "data-testid": "task-ends",
    title: "Recurring tasks end after recurringMaxAgeMs unless permanent" }, `ends ${when(end.toISOString())}`);
}

async function deleteTask(task) {
  const extra = task.builtin ? " It is a built-in task." : "";
  if (!await confirmDialog("Delete this task?", `“${task.prompt}” (${task.description || task.cron}).${extra}`)) return;
  const r = await api(`/api/tasks/${encodeURIComponent(task.id)}`, { method: "DELETE" });
  if (!r.ok && r.status !== 404) return toast(r.data.error || "Could not delete the task.", "error");
  tasks = tasks.filter((t) => t.id !== task.id);
  renderTasks();
  toast("Task deleted");
}

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
  const r = await post("/api/tasks", { cron, prompt, recurring: $("task-recurring").checked, durable: true,
    catchUp: $("task-catch-up").value });
  if (!r.ok) return showError("task-error", r.data.error, $("task-cron"));
  $("task-cron").value = "";
  $("task-prompt").value = "";
  describeCron();
  toast("Task added");
  await loadTasks();
}

export function wireTasks() {
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
}
