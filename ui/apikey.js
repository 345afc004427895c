/* The settings view's API key card: where the key is kept (keyring, file, environment), a
 * new key checked for its shape before it is sent, Remove key. The key itself never comes
 * back from the engine, only a hint of it. */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { confirmDialog, hideError, showError, toast } from "./feedback.js";

const WHERE = {
  keyring: "in the system keyring",
  file: "in a file only you can read",
  env: "in the ANTHROPIC_API_KEY environment variable",
};

export function renderKey(info) {
  const el = $("apikey-status");
  if (!info.set) {
    el.replaceChildren("No key is set: the assistant cannot think until you add one.");
  } else {
    el.replaceChildren("A key is set ", h("code", { "data-testid": "apikey-hint" }, info.hint || "…"),
      `, stored ${WHERE[info.source] || ""}.`);
  }
  $("apikey-remove").disabled = !info.set || info.source === "env";
}

async function saveKey(e) {
  e.preventDefault();
  hideError("err-apiKey");
  const input = $("apikey-input");
  input.removeAttribute("aria-invalid");
  const key = input.value.trim();
  if (!key) return showError("err-apiKey", "Paste a key first.", input);
  if (/\s/.test(key)) return showError("err-apiKey", "A key has no spaces in it.", input);
  if (!key.startsWith("sk-")) return showError("err-apiKey", "Anthropic keys start with “sk-”.", input);
  const r = await api("/api/key", { method: "PUT", body: { key } });
  if (!r.ok) return showError("err-apiKey", r.data.error || "The key was not saved.", input);
  input.value = "";
  renderKey(r.data.apiKey);
  toast("API key saved");
}

async function removeKey() {
  if (!await confirmDialog("Remove the API key?", "The assistant stops calling the model until a new key is set.", "Remove")) return;
  const r = await api("/api/key", { method: "DELETE" });
  if (!r.ok) return showError("err-apiKey", r.data.error || "The key was not removed.");
  renderKey(r.data.apiKey);
  toast("API key removed");
}

export function wireApiKey() {
  $("key-form").addEventListener("submit", saveKey);
  $("apikey-remove").addEventListener("click", removeKey);
  $("apikey-input").addEventListener("input", () => {
    hideError("err-apiKey");
    $("apikey-input").removeAttribute("aria-invalid");
  });
}
