/* The settings view: the form filled from the engine's copy, checked in the page as you type,
 * only the changed keys sent (PATCH), the engine's refusal shown under its field. A new copy
 * from elsewhere (the tray, the CLI) updates the fields you have not touched. */

import { api } from "./api.js";
import { renderKey } from "./apikey.js";
import { $, h, same } from "./dom.js";
import { hideError, showError } from "./feedback.js";
import { publishSettings, state } from "./state.js";

const MODEL_PATTERN = /^claude-[a-z0-9]+([.-][a-z0-9]+)*$/;

const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);
const numberOf = (el) => (el.value.trim() === "" ? Number.NaN : Number(el.value));

function intField(key, id, { min, max, unit }) {
  return {
    key, inputs: [id],
    get: () => numberOf($(id)),
    set: (v) => { $(id).value = v ?? ""; },
    check: (v) => {
      if (!Number.isFinite(v)) return `Enter a number of ${unit}.`;
      if (v < 0) return "Cannot be negative.";
      if (!Number.isInteger(v)) return `Use whole ${unit}.`;
      if (v < min) return `At least ${min.toLocaleString()} ${unit}.`;
      if (v > max) return `At most ${max.toLocaleString()} ${unit}.`;
      return null;
    },
  };
}

function boolField(key, id) {
  return { key, inputs: [id], get: () => $(id).checked, set: (v) => { $(id).checked = Boolean(v); }, check: () => null };
}

function listField(key, id) {
  return {
    key, inputs: [id],
    get: () => lines($(id).value),
    set: (v) => { $(id).value = (v || []).join("\n"); },
    check: () => null,
  };
}

const FIELDS = [
  {
    key: "assistantName", inputs: ["s-assistantName"],
    get: () => $("s-assistantName").value.trim(),
    set: (v) => { $("s-assistantName").value = v ?? ""; },
    check: (v) => (!v ? "Give the assistant a name." : v.length > 40 ? "At most 40 characters." : null),
  },
  {
    key: "defaultView", inputs: ["s-defaultView"],
    get: () => $("s-defaultView").value,
    set: (v) => { $("s-defaultView").value = v || "chat"; },
    check: (v) => (["chat", "transcript"].includes(v) ? null : "Pick a view."),
  },
  {
    key: "model", inputs: ["s-model"],
    get: () => $("s-model").value.trim(),
    set: (v) => { $("s-model").value = v ?? ""; },
    check: (v) => (!v ? "Enter a model id." : MODEL_PATTERN.test(v) ? null
      : "Not an Anthropic model id: it looks like claude-sonnet-5-5 (lowercase letters, digits, dots and dashes)."),
  },
  {
    key: "minSleepDurationMs", inputs: ["s-minSleep"],
    get: () => {
      const sec = numberOf($("s-minSleep"));
      return Number.isFinite(sec) ? Math.round(sec * 1000) : Number.NaN;
    },
    set: (v) => { $("s-minSleep").value = Number.isFinite(v) ? String(v / 1000) : ""; },
    check: (v) => {
      if (!Number.isFinite(v)) return "Enter a number of seconds.";
      if (v < 0) return "Cannot be negative.";
      if (v < 1000) return "At least 1 second.";
      return null;
    },
  },
  {
    key: "maxSleepDurationMs", inputs: ["s-maxSleep", "s-maxSleepForever"],
    get: () => {
      if ($("s-maxSleepForever").checked) return -1;
      const min = numberOf($("s-maxSleep"));
      return Number.isFinite(min) ? Math.round(min * 60000) : Number.NaN;
    },
    set: (v) => {
      const forever = v === -1;
      $("s-maxSleepForever").checked = forever;
      $("s-maxSleep").disabled = forever;
      $("s-maxSleep").value = forever || !Number.isFinite(v) ? "" : String(+(v / 60000).toFixed(3));
    },
    check: (v) => {
      if (v === -1) return null;
      if (!Number.isFinite(v)) return "Enter a number of minutes, or tick “until something arrives”.";
      if (v < 0) return "Cannot be negative.";
      if (v === 0) return "Must be more than 0 minutes.";
      return null;
    },
  },
  boolField("autoDreamEnabled", "s-autoDreamEnabled"),
  boolField("notificationsEnabled", "s-notificationsEnabled"),
  {
    key: "notifyStatuses", inputs: ["s-notifyNormal", "s-notifyProactive"],
    get: () => [$("s-notifyNormal").checked ? "normal" : null, $("s-notifyProactive").checked ? "proactive" : null].filter(Boolean),
    set: (v) => {
      $("s-notifyNormal").checked = (v || []).includes("normal");
      $("s-notifyProactive").checked = (v || []).includes("proactive");
    },
    check: () => null,
  },
  {
    key: "quietHours", inputs: ["s-quietStart", "s-quietEnd"],
    get: () => ($("s-quietHours").checked ? { start: $("s-quietStart").value, end: $("s-quietEnd").value } : null),
    set: (v) => {
      $("s-quietHours").checked = Boolean(v);
      $("s-quietStart").value = v ? v.start : "22:00";
      $("s-quietEnd").value = v ? v.end : "07:00";
      syncQuiet();
    },
    check: (v) => {
      if (!v) return null;
      if (!v.start || !v.end) return "Pick both times.";
      if (v.start === v.end) return "Start and end must differ.";
      return null;
    },
  },
  {
    key: "inboxDir", inputs: ["s-inboxDir"],
    get: () => $("s-inboxDir").value.trim() || null,
    set: (v) => { $("s-inboxDir").value = v ?? ""; },
    check: () => null,
  },
  boolField("channelsEnabled", "s-channelsEnabled"),
  listField("allowedChannelPlugins", "s-allowedChannelPlugins"),
  boolField("runCommandEnabled", "s-runCommandEnabled"),
  listField("runCommandAllowlist", "s-runCommandAllowlist"),
  intField("approvalTimeoutSeconds", "s-approvalTimeoutSeconds", { min: 5, max: 86400, unit: "seconds" }),
  intField("runCommandTimeoutSeconds", "s-runCommandTimeoutSeconds", { min: 1, max: 3600, unit: "seconds" }),
  intField("runCommandMaxOutputBytes", "s-runCommandMaxOutputBytes", { min: 1000, max: 1000000, unit: "bytes" }),
];
const FIELD_BY_KEY = new Map(FIELDS.map((f) => [f.key, f]));

function syncQuiet() {
  const on = $("s-quietHours").checked;
  $("s-quietStart").disabled = !on;
  $("s-quietEnd").disabled = !on;
}

function syncRunCommand() {
  const on = $("s-runCommandEnabled").checked;
  for (const id of ["s-runCommandAllowlist", "s-approvalTimeoutSeconds", "s-runCommandTimeoutSeconds", "s-runCommandMaxOutputBytes"]) {
    $(id).disabled = !on;
  }
}

function dirtyKeys() {
  if (!state.settings) return [];
  return FIELDS.filter((f) => !same(f.get(), state.settings[f.key])).map((f) => f.key);
}

function fillSettings(settings, onlyKeys = null) {
  for (const f of FIELDS) {
    if (onlyKeys && !onlyKeys.includes(f.key)) continue;
    f.set(settings[f.key]);
    clearFieldError(f.key);
  }
  syncQuiet();
  syncRunCommand();
  updateDirty();
}

export function applySettings(settings) {
  // A new server copy: fields the user has not touched follow it; edits in progress stay.
  const dirty = state.settings ? dirtyKeys() : [];
  state.settings = settings;
  fillSettings(settings, FIELDS.map((f) => f.key).filter((k) => !dirty.includes(k)));
  publishSettings(settings);
}

export async function loadSettings() {
  const r = await api("/api/settings");
  if (!r.ok) throw new Error(r.data.error);
  applySettings(r.data.settings);
  renderProblems(r.data.problems || []);
  if (r.data.apiKey) renderKey(r.data.apiKey);
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

function setFieldError(key, message) {
  const f = FIELD_BY_KEY.get(key);
  const el = $(`err-${key}`);
  if (!el) {
    showError("settings-error", message);
    return null;
  }
  el.textContent = message;
  el.hidden = false;
  for (const id of f ? f.inputs : []) $(id).setAttribute("aria-invalid", "true");
  return f ? $(f.inputs[0]) : null;
}

function clearFieldError(key) {
  const f = FIELD_BY_KEY.get(key);
  hideError(`err-${key}`);
  for (const id of f ? f.inputs : []) $(id).removeAttribute("aria-invalid");
}

function validateSettings(keys = FIELDS.map((f) => f.key)) {
  // Returns {key: message} for every problem among `keys` (and the min/max pair).
  const errors = {};
  for (const key of keys) {
    const f = FIELD_BY_KEY.get(key);
    const message = f.check(f.get());
    if (message) errors[key] = message;
  }
  const min = FIELD_BY_KEY.get("minSleepDurationMs").get();
  const max = FIELD_BY_KEY.get("maxSleepDurationMs").get();
  const pair = keys.includes("minSleepDurationMs") || keys.includes("maxSleepDurationMs");
  if (pair && !errors.minSleepDurationMs && !errors.maxSleepDurationMs && max !== -1 && max < min) {
    errors.minSleepDurationMs = `The minimum (${min / 1000} s) is longer than the maximum (${+(max / 60000).toFixed(2)} min).`;
    errors.maxSleepDurationMs = `The maximum must be at least the minimum (${+(min / 60000).toFixed(2)} min), or “until something arrives”.`;
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

function keyOfInput(el) {
  for (const f of FIELDS) if (f.inputs.includes(el.id)) return f.key;
  if (el.id === "s-quietHours") return "quietHours";
  return null;
}

export async function saveSettings(e) {
  e?.preventDefault();
  hideError("settings-error");
  $("settings-saved").hidden = true;
  const errors = showValidation(FIELDS.map((f) => f.key));
  const bad = Object.keys(errors);
  if (bad.length) {
    const first = FIELDS.find((f) => errors[f.key]);
    $(first.inputs.find((id) => !$(id).disabled) || first.inputs[0]).focus();
    return;
  }
  const changed = {};
  for (const key of dirtyKeys()) changed[key] = FIELD_BY_KEY.get(key).get();
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
  const key = keyOfInput(e.target);
  if (e.target.id === "s-maxSleepForever") {
    $("s-maxSleep").disabled = e.target.checked;
    if (!e.target.checked && !$("s-maxSleep").value) $("s-maxSleep").value = "55";
  }
  if (e.target.id === "s-quietHours") syncQuiet();
  if (e.target.id === "s-runCommandEnabled") syncRunCommand();
  // Re-check a field that shows an error as the user fixes it.
  if (key && ($(`err-${key}`)?.hidden === false || e.type === "change")) showValidation([key]);
  updateDirty();
}

export function wireSettings() {
  $("settings-form").addEventListener("submit", saveSettings);
  $("settings-form").addEventListener("input", onSettingsInput);
  $("settings-form").addEventListener("change", onSettingsInput);
  $("settings-form").addEventListener("focusout", (e) => {
    const key = keyOfInput(e.target);
    if (key && e.target.value !== undefined && e.target.type !== "checkbox") showValidation([key]);
  });
  $("settings-revert").addEventListener("click", () => {
    if (state.settings) fillSettings(state.settings);
    hideError("settings-error");
  });
}
