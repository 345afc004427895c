/* Which view is shown: the #hash names it, the nav marks it, the title says it. Each view
 * module registers how to load itself, so this file knows no view's insides. */

import { AuthError } from "./api.js";
import { $ } from "./dom.js";
import { toast } from "./feedback.js";
import { state } from "./state.js";

export const VIEWS = ["chat", "inbox", "tasks", "activity", "memory", "settings"];
export const VIEW_TITLES = {
  chat: "Chat", inbox: "Inbox", tasks: "Tasks", activity: "Activity", memory: "Memory",
  settings: "Settings",
};

const loaders = new Map(); // view -> async () => void

export function registerView(view, load) {
  loaders.set(view, load);
}

export function updateTitle() {
  document.title = state.view ? `${VIEW_TITLES[state.view]} · ${state.assistantName}` : state.assistantName;
}

// {view, mode}: "#transcript" is the chat view in its transcript mode; anything unknown is chat.
export function viewFromHash() {
  const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  if (name === "transcript") return { view: "chat", mode: "transcript" };
  return { view: VIEWS.includes(name) ? name : "chat", mode: null };
}

export async function showView(view, { focus = false } = {}) {
  const changed = state.view !== view;
  state.view = view;
  for (const section of document.querySelectorAll("section.view")) {
    section.hidden = section.dataset.view !== view;
  }
  for (const link of document.querySelectorAll(".nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  updateTitle();
  if (focus || (changed && view === "chat")) focusView(view);
  await loadView(view);
}

export function focusView(view) {
  if (view === "chat") {
    $("chat-input").focus({ preventScroll: true });
    return;
  }
  const section = $(`view-${view}`);
  const target = section.querySelector("input, select, textarea, button, summary, a[href]");
  if (target) target.focus({ preventScroll: true });
}

export async function loadView(view) {
  try {
    await loaders.get(view)?.();
  } catch (err) {
    if (!(err instanceof AuthError)) {
      console.error(err);
      toast(`Could not load ${VIEW_TITLES[view]}: ${err.message}`, "error");
    }
  }
}
