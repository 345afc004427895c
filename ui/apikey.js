/* The settings view's API key card: where the key is kept (keyring, file, environment), a
 * new key checked for its shape before it is sent, Remove key. The key itself never comes
 * back from the engine, only a hint of it. The GitHub token's card works the same way. */

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

// The GitHub token (private repositories): kept like the key, used from the next poll.
const GITHUB_WHERE = { ...WHERE, env: "in the GITHUB_TOKEN environment variable" };

export function renderGitHubToken(info) {
  const el = $("github-status");
  if (!info.set) {
    el.replaceChildren("No token: pull requests of public repositories only, 60 checks an hour.");
  } else {
    el.replaceChildren("A token is set ", h("code", { "data-testid": "github-hint" }, info.hint || "…"),
      `, stored ${GITHUB_WHERE[info.source] || ""}.`);
  }
  $("github-remove").disabled = !info.set || info.source === "env";
}

async function saveGitHubToken(e) {
  e.preventDefault();
  hideError("err-githubToken");
  const input = $("github-input");
  input.removeAttribute("aria-invalid");
  const token = input.value.trim();
  if (!token) return showError("err-githubToken", "Paste a token first.", input);
  if (/\s/.test(token)) return showError("err-githubToken", "A token has no spaces in it.", input);
  const r = await api("/api/github-token", { method: "PUT", body: { token } });
  if (!r.ok) return showError("err-githubToken", r.data.error || "The token was not saved.", input);
  input.value = "";
  renderGitHubToken(r.data.githubToken);
  toast("GitHub token saved");
}

async function removeGitHubToken() {
  if (!await confirmDialog("Remove the GitHub token?", "Private repositories' pull requests are no longer followed.", "Remove")) return;
  const r = await api("/api/github-token", { method: "DELETE" });
  if (!r.ok) return showError("err-githubToken", r.data.error || "The token was not removed.");
  renderGitHubToken(r.data.githubToken);
  toast("GitHub token removed");
}

// The sidebar's "No API key: add one in Settings" is a way there: to this card's input.
function goToKey() {
  if ($("status-pill").dataset.state !== "no_api_key") return;
  const focus = () => requestAnimationFrame(() => $("apikey-input").focus());
  if (location.hash === "#settings") return focus();
  window.addEventListener("hashchange", focus, { once: true }); // once the view is shown
  location.hash = "settings";
}

export function wireApiKey() {
  $("github-form").addEventListener("submit", saveGitHubToken);
  $("github-remove").addEventListener("click", removeGitHubToken);
  $("status-pill").addEventListener("click", goToKey);
  $("status-pill").addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      goToKey();
    }
  });
  $("key-form").addEventListener("submit", saveKey);
  $("apikey-remove").addEventListener("click", removeKey);
  $("apikey-input").addEventListener("input", () => {
    hideError("err-apiKey");
    $("apikey-input").removeAttribute("aria-invalid");
  });
}
