/* Telling the user something: a toast, a confirm dialog, an error under a field. */

import { $, h } from "./dom.js";

export function toast(text, kind = "info", ms = 4000) {
  const el = h("div", { class: `toast${kind === "error" ? " toast-error" : ""}`, "data-testid": "toast" }, text);
  $("toasts").append(el);
  setTimeout(() => el.remove(), ms);
}

// Resolves true on OK. The focus starts on Cancel: Enter on a destructive default is too easy.
export function confirmDialog(title, text, okLabel = "Delete") {
  const dialog = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dialog.returnValue = "cancel";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    dialog.querySelector("[value=cancel]").focus();
  });
}

export function showError(id, message, field) {
  const el = $(id);
  el.textContent = message;
  el.hidden = false;
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

export function hideError(id) {
  const el = $(id);
  if (el) {
    el.hidden = true;
    el.textContent = "";
  }
}
