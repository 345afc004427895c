/* The settings view: the form (built from the settings' JSON Schema by settings-form.js) filled
 * from the engine's copy, checked in the page as you type, only the changed keys sent (PATCH),
 * the engine's refusal shown under its field. A new copy from elsewhere (the tray, the CLI)
 * updates the fields you have not touched. */

import { api } from "./api.js";
import { renderGitHubToken, renderKey } from "./apikey.js";
import { amount } from "./checks.js";
import { $, h, same } from "./dom.js";
import { hideError, showError } from "./feedback.js";
import { loadSchema } from "./schema.js";
import { buildForm, syncEnabled } from "./settings-form.js";
import { loadServers } from "./servers.js";
import { publishSettings, state } from "./state.js";

let fields = [];
let byKey = new Map();
let building = null; // the schema's fetch and the form's build, once

// Builds the form once; a failure is said in the form and tried again on the next load.
export function ensureForm() {
  building ||= loadSchema().then((schema) => {
    ({ fields } = buildForm(schema, $("save-bar")));
    byKey = new Map(fields.map((f) => [f.key, f]));
    if (state.settings) fillSettings(state.settings);
  }).catch((err) => {
    building = null;
    showError("settings-error", `The settings form could not be built: ${err.message}`);
    throw err;
  });
  return building;
}

function dirtyKeys() {
  if (!state.settings) return [];
  return fields.filter((f) => !same(f.get(), state.settings[f.key])).map((f) => f.key);
}

function fillSettings(settings, onlyKeys = null) {
  for (const f of fields) {
    if (onlyKeys && !onlyKeys.includes(f.key)) continue;
    f.set(settings[f.key]);
    clearFieldError(f.key);
  }
  syncEnabled(fields);
  updateDirty();
}

export function applySettings(settings) {
  // A new server copy: fields the user has not touched follow it; edits in progress stay.
  const dirty = state.settings ? dirtyKeys() : [];
  state.settings = settings;
  fillSettings(settings, fields.map((f) => f.key).filter((k) => !dirty.includes(k)));
  publishSettings(settings);
}

export async function loadSettings() {
  const [r] = await Promise.all([api("/api/settings"), ensureForm(), loadServers()]);
  if (!r.ok) throw new Error(r.data.error);
  applySettings(r.data.settings);
  renderProblems(r.data.problems || []);
  if (r.data.apiKey) renderKey(r.data.apiKey);
  if (r.data.githubToken) renderGitHubToken(r.data.githubToken);
}

export function renderProblems(problems) {
  const list = $("settings-problems");
  list.replaceChildren(...problems.map((p) => h("li", null, p)));
  list.hidden = problems.length === 0;
}

function updateDirty() {
  const dirty = dirtyKeys().length > 0;
  $("settings-dirty").hidden = !dirty;
  $("badge-settings").hidden = !dirty;
  $("settings-revert").disabled = !dirty;
  if (dirty) $("settings-saved").hidden = true;
}

// The field's first input that can take the focus (a closed "More settings" opens for it).
function focusTarget(f) {
  const el = $(f.inputs.find((id) => !$(id).disabled) || f.inputs[0]);
  el?.closest("details")?.setAttribute("open", "");
  return el;
}

function setFieldError(key, message) {
  const f = byKey.get(key);
  const el = $(`err-${key}`);
  if (!el) {
    showError("settings-error", message);
    return null;
  }
  el.textContent = message;
  el.hidden = false;
  for (const id of f ? f.inputs : []) $(id).setAttribute("aria-invalid", "true");
  return f ? focusTarget(f) : null;
}

function clearFieldError(key) {
  const f = byKey.get(key);
  hideError(`err-${key}`);
  for (const id of f ? f.inputs : []) $(id).removeAttribute("aria-invalid");
}

// {key: message} for every problem among `keys`, and the engine's rule that the maximum
// sleep is at least the minimum (or "until something arrives").
function validateSettings(keys) {
  const errors = {};
  for (const key of keys) {
    const f = byKey.get(key);
    const message = f?.check(f.get());
    if (message) errors[key] = message;
  }
  const minField = byKey.get("minSleepDurationMs");
  const maxField = byKey.get("maxSleepDurationMs");
  const pair = keys.includes("minSleepDurationMs") || keys.includes("maxSleepDurationMs");
  if (minField && maxField && pair && !errors.minSleepDurationMs && !errors.maxSleepDurationMs) {
    const min = minField.get();
    const max = maxField.get();
    const { sentinel, scale = 1, unit } = maxField.words;
    if (max !== sentinel?.value && max < min) {
      const shownMin = amount(min / (minField.words.scale || 1), minField.words.unit);
      errors.minSleepDurationMs = `The minimum (${shownMin}) is longer than the maximum (${amount(max / scale, unit)}).`;
      errors.maxSleepDurationMs = `The maximum must be at least the minimum (${amount(min / scale, unit)})`
        + `${sentinel ? `, or “${sentinel.label}”` : ""}.`;
    }
  }
  return errors;
}

function showValidation(keys) {
  const errors = validateSettings(keys);
  const touched = new Set(keys);
  if (touched.has("minSleepDurationMs") || touched.has("maxSleepDurationMs")) {
    touched.add("minSleepDurationMs");
    touched.add("maxSleepDurationMs");
  }
  for (const key of touched) {
    if (errors[key]) setFieldError(key, errors[key]);
    else clearFieldError(key);
  }
  return errors;
}

function fieldOf(el) {
  return byKey.get(el?.dataset?.key) || null;
}

export async function saveSettings(e) {
  e?.preventDefault();
  hideError("settings-error");
  // Emptied, not only hidden: "Saved" must mean this save, never the one before it.
  $("settings-saved").hidden = true;
  $("settings-saved").textContent = "";
  if (!fields.length) return ensureForm().catch(() => {});
  const errors = showValidation(fields.map((f) => f.key));
  const first = fields.find((f) => errors[f.key]);
  if (first) {
    focusTarget(first).focus();
    return;
  }
  const changed = {};
  for (const key of dirtyKeys()) changed[key] = byKey.get(key).get();
  if (!Object.keys(changed).length) {
    flashSaved("No changes");
    return;
  }
  const button = $("settings-save");
  button.disabled = true;
  try {
    const r = await api("/api/settings", { method: "PATCH", body: changed });
    if (!r.ok) {
      const key = typeof r.data.key === "string" ? r.data.key.split(".")[0] : null;
      const field = key ? setFieldError(key, r.data.error) : (showError("settings-error", r.data.error), null);
      field?.focus();
      return;
    }
    state.settings = null; // everything now equals the server copy
    applySettings(r.data.settings);
    flashSaved("Saved");
  } finally {
    button.disabled = false;
  }
}

let savedTimer = 0;
function flashSaved(text) {
  const el = $("settings-saved");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(savedTimer);
  savedTimer = setTimeout(() => { el.hidden = true; }, 2500);
}

function onSettingsInput(e) {
  const f = fieldOf(e.target);
  f?.onInput?.(e.target);
  syncEnabled(fields);
  // Re-check a field that shows an error as the user fixes it.
  if (f && ($(`err-${f.key}`)?.hidden === false || e.type === "change")) showValidation([f.key]);
  updateDirty();
}

export function wireSettings() {
  $("settings-form").addEventListener("submit", saveSettings);
  $("settings-form").addEventListener("input", onSettingsInput);
  $("settings-form").addEventListener("change", onSettingsInput);
  $("settings-form").addEventListener("focusout", (e) => {
    const f = fieldOf(e.target);
    if (f && e.target.value !== undefined && e.target.type !== "checkbox") showValidation([f.key]);
  });
  $("settings-revert").addEventListener("click", () => {
    if (state.settings) fillSettings(state.settings);
    hideError("settings-error");
  });
}
