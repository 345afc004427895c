/* Building the settings form from the JSON Schema: one field per setting, its input chosen by
 * the schema's type (switch, number, text, choice, list, checks, an object's parts), its HTML
 * limits and its check taken from the schema, its words from settings-labels.js. Returns the
 * fields as {key, inputs, get, set, check, sync}; settings.js does the rest. */

import { $, h } from "./dom.js";
import { check } from "./checks.js";
import { property, settingKeys } from "./schema.js";
import { LABELS, RULES, SECTIONS, labelFor } from "./settings-labels.js";

const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);
const numberOf = (el) => (el.value.trim() === "" ? Number.NaN : Number(el.value));

// {fields, elsewhere}: the fields, in form order, and the settings no field can edit.
export function buildForm(schema, before) {
  const known = new Set(SECTIONS.flatMap((s) => (Array.isArray(s.keys) ? s.keys.flat() : [])));
  const fields = [];
  const elsewhere = [];
  for (const section of SECTIONS) {
    const keys = section.keys === "rest" ? settingKeys(schema).filter((k) => !known.has(k)) : section.keys;
    const nodes = [];
    for (const item of keys) {
      const row = (Array.isArray(item) ? item : [item]).map((key) => {
        const prop = property(schema, key);
        if (!prop) return null; // in the table, not (or no longer) a setting
        const made = makeField(key, prop, { label: labelFor(key), ...LABELS[key] });
        if (made) fields.push(made);
        else elsewhere.push(key);
        return made?.node;
      }).filter(Boolean);
      if (row.length) nodes.push(Array.isArray(item) ? h("div", { class: "field-row" }, row) : row[0]);
    }
    if (section.keys === "rest" && elsewhere.length) nodes.push(elsewhereNote(elsewhere));
    if (!nodes.length) continue;
    const body = [
      section.hint ? h("p", { class: "hint" }, section.hint) : null, nodes,
      section.note ? h("p", { class: "hint", id: `s-${section.note}`, "data-testid": `settings-${section.note}` }) : null,
    ];
    before.before(section.collapsed
      ? h("details", { class: "card more-settings", "data-testid": "settings-more" },
        h("summary", null, section.legend), h("fieldset", null, h("legend", { class: "sr-only" }, section.legend), body))
      : h("fieldset", { class: "card" }, h("legend", null, section.legend), body));
  }
  return { fields, elsewhere };
}

function elsewhereNote(keys) {
  const names = keys.map((k) => LABELS[k]?.label || labelFor(k));
  return h("p", { class: "hint", "data-testid": "settings-elsewhere", "data-keys": keys.join(" ") },
    `${names.join(", ")}: set in settings.json, or with kairos settings set.`);
}

function makeField(key, prop, words) {
  const make = prop.type === "boolean" ? switchField
    : prop.type === "integer" || prop.type === "number" ? numberField
      : prop.type === "string" ? (prop.enum ? choiceField : textField)
        : prop.type === "array" && prop.items?.type === "string" ? (prop.items.enum ? checksField : listField)
          : prop.type === "array" && words.folders ? foldersField
            : prop.type === "object" && words.parts ? partsField : null;
  if (!make) return null;
  const field = make(key, prop, words);
  const rule = RULES[key];
  return { sync: () => {}, ...field, key, words, check: (v) => check(v, prop, words) || (rule ? rule(v) : null) };
}

// The label, the input(s), the help and the error line, as in every field.
function wrap(key, words, label, ...inputs) {
  return h("div", { class: "field", "data-setting": key }, label, inputs,
    words.help ? h("p", { class: "hint", id: `hint-${key}` }, words.help) : null, errorLine(key));
}

function errorLine(key) {
  return h("p", { class: "field-error", id: `err-${key}`, "data-testid": `error-${key}`, hidden: true });
}

function describedBy(key, words) {
  return [words.help ? `hint-${key}` : null, `err-${key}`].filter(Boolean).join(" ");
}

function inputAttrs(key, words) {
  return {
    id: `s-${key}`, "data-key": key, "data-testid": `setting-${key}`, "aria-describedby": describedBy(key, words),
    class: words.mono ? "mono" : null, spellcheck: words.mono ? "false" : null,
  };
}

function switchField(key, prop, words) {
  const input = h("input", { type: "checkbox", ...inputAttrs(key, words) });
  const node = h("div", { class: "field field-switch", "data-setting": key },
    h("label", { class: "switch" }, input, " ", h("span", null, words.label)),
    words.help ? h("p", { class: "hint", id: `hint-${key}` }, words.help) : null, errorLine(key));
  return { node, inputs: [input.id], get: () => input.checked, set: (v) => { input.checked = Boolean(v); } };
}

function textField(key, prop, words) {
  const input = h("input", { ...inputAttrs(key, words), maxlength: prop.maxLength, autocomplete: "off", placeholder: words.placeholder });
  return {
    node: wrap(key, words, h("label", { for: input.id }, words.label), input),
    inputs: [input.id],
    get: () => {
      const v = input.value.trim();
      return v === "" && prop.nullable ? null : v;
    },
    set: (v) => { input.value = v ?? ""; },
  };
}

function choiceField(key, prop, words) {
  const select = h("select", inputAttrs(key, words),
    prop.enum.map((value) => h("option", { value }, words.choices?.[value] || value)));
  return {
    node: wrap(key, words, h("label", { for: select.id }, words.label), select),
    inputs: [select.id],
    get: () => select.value,
    set: (v) => { select.value = v || prop.default || prop.enum[0]; },
  };
}

function listField(key, prop, words) {
  const area = h("textarea", { ...inputAttrs(key, words), rows: words.rows || 3 });
  return {
    node: wrap(key, words, h("label", { for: area.id }, words.label), area),
    inputs: [area.id],
    get: () => lines(area.value),
    set: (v) => { area.value = (v || []).join("\n"); },
  };
}

function checksField(key, prop, words) {
  const boxes = prop.items.enum.map((value) => h("input", {
    type: "checkbox", id: `s-${key}-${value}`, "data-key": key, "data-testid": `setting-${key}-${value}`, value,
  }));
  const node = h("div", { class: "field", "data-setting": key, role: "group", "aria-labelledby": `label-${key}` },
    h("span", { class: "label", id: `label-${key}` }, words.label),
    h("div", { class: "checks" }, boxes.map((box) => h("label", { class: "check" }, box, ` ${words.choices?.[box.value] || box.value}`))),
    errorLine(key));
  return {
    node,
    inputs: boxes.map((b) => b.id),
    get: () => boxes.filter((b) => b.checked).map((b) => b.value),
    set: (v) => { for (const b of boxes) b.checked = (v || []).includes(b.value); },
  };
}

// A number shown in `words.scale` units, with an optional checkbox for a sentinel value.
function numberField(key, prop, words) {
  const scale = words.scale || 1;
  const sentinel = words.sentinel;
  const whole = prop.type === "integer" && scale === 1;
  const shown = (b) => (b === undefined || b === sentinel?.value ? null : b / scale);
  const input = h("input", {
    ...inputAttrs(key, words), type: "number", min: shown(prop.minimum ?? prop.exclusiveMinimum),
    max: shown(prop.maximum ?? prop.exclusiveMaximum), step: words.step || (whole ? 1 : "any"),
    inputmode: whole ? "numeric" : "decimal",
  });
  const box = sentinel ? h("input", { type: "checkbox", id: `s-${key}-sentinel`, "data-key": key, "data-testid": sentinel.testid }) : null;
  let written = { text: null, value: null }; // what set() wrote: unedited, it reads back exactly
  const sync = () => { if (box) input.disabled = box.checked; };
  return {
    node: wrap(key, words, h("label", { for: input.id }, words.label), input,
      box ? h("label", { class: "check" }, box, ` ${sentinel.label}`) : null),
    inputs: box ? [input.id, box.id] : [input.id],
    get: () => {
      if (box?.checked) return sentinel.value;
      if (written.text && input.value === written.text) return written.value;
      const v = numberOf(input);
      return Number.isFinite(v) && scale !== 1 && prop.type === "integer" ? Math.round(v * scale) : v * scale;
    },
    set: (v) => {
      if (box) box.checked = v === sentinel.value;
      input.value = box?.checked || !Number.isFinite(v) ? "" : String(+(v / scale).toFixed(3));
      written = { text: input.value, value: v };
      sync();
    },
    sync,
    // Unticking the sentinel with nothing typed offers the schema's default.
    onInput: (target) => {
      if (target === box && !box.checked && !input.value && Number.isFinite(prop.default) && prop.default !== sentinel.value) {
        input.value = String(+(prop.default / scale).toFixed(3));
      }
      sync();
    },
  };
}

// An optional object (quiet hours): a checkbox to have it at all, and one input per part.
function partsField(key, prop, words) {
  const names = Object.keys(prop.properties || {});
  const toggle = prop.nullable ? h("input", { type: "checkbox", id: `s-${key}`, "data-key": key, "data-testid": `setting-${key}` }) : null;
  const inputs = names.map((name) => h("input", {
    id: `s-${key}-${name}`, "data-key": key, "data-testid": `setting-${key}-${name}`,
    type: words.parts[name]?.type || "text", "aria-describedby": `err-${key}`,
  }));
  const sync = () => { for (const el of inputs) el.disabled = toggle ? !toggle.checked : false; };
  const node = h("div", { class: "field", "data-setting": key },
    toggle ? h("label", { class: "check" }, toggle, ` ${words.label}`) : h("span", { class: "label" }, words.label),
    h("div", { class: "field-row parts-row" }, names.map((name, i) => [
      h("label", { class: "inline", for: inputs[i].id }, words.parts[name]?.label || labelFor(name)), inputs[i]])),
    errorLine(key));
  return {
    node,
    inputs: inputs.map((el) => el.id),
    get: () => (toggle && !toggle.checked ? null : Object.fromEntries(names.map((name, i) => [name, inputs[i].value]))),
    set: (v) => {
      if (toggle) toggle.checked = Boolean(v);
      names.forEach((name, i) => { inputs[i].value = v ? v[name] ?? "" : words.parts[name]?.start ?? ""; });
      sync();
    },
    sync,
    onInput: sync,
  };
}

// A list of folders, one row each: the path, whether a change there wakes the assistant, and
// Remove; "Add a folder" adds a row. What else a folder has (its ignore patterns, set in
// settings.json) is kept as it was. A row left empty is no folder.
function foldersField(key, prop, words) {
  const rows = h("ul", { class: "folder-rows", "data-key": key, "data-testid": `setting-${key}`, "aria-describedby": describedBy(key, words) });
  const add = h("button", { type: "button", class: "btn btn-quiet btn-small", id: `s-${key}-add`, "data-key": key, "data-testid": `setting-${key}-add` }, "Add a folder");
  const inputs = [add.id]; // kept in step with the rows (the form reads it for focus and errors)
  const kept = new Map(); // row -> the folder's ignore patterns
  let made = 0;
  const changed = () => rows.dispatchEvent(new Event("input", { bubbles: true }));
  const syncInputs = () => {
    inputs.length = 0;
    for (const el of rows.querySelectorAll("input")) inputs.push(el.id);
    inputs.push(add.id);
  };
  const row = (folder = {}) => {
    made += 1;
    const path = h("input", {
      id: `s-${key}-${made}-path`, "data-key": key, "data-testid": `setting-${key}-path`, class: "mono field-grow",
      spellcheck: "false", autocomplete: "off", placeholder: words.placeholder || "~/notes", "aria-label": "Folder",
      "aria-describedby": `err-${key}`,
    });
    path.value = folder.path || "";
    const wake = h("input", { type: "checkbox", id: `s-${key}-${made}-wake`, "data-key": key, "data-testid": `setting-${key}-wake` });
    wake.checked = Boolean(folder.wake);
    const remove = h("button", { type: "button", class: "btn btn-quiet btn-small", "data-key": key, "data-testid": `setting-${key}-remove` }, "Remove");
    const li = h("li", { class: "field-row folder-row" }, path, h("label", { class: "check" }, wake, " a change wakes the assistant"), remove);
    kept.set(li, Array.isArray(folder.ignore) ? folder.ignore : []);
    remove.addEventListener("click", () => {
      li.remove();
      kept.delete(li);
      syncInputs();
      changed();
      add.focus();
    });
    rows.append(li);
    syncInputs();
    return path;
  };
  add.addEventListener("click", () => {
    row().focus();
    changed();
  });
  return {
    node: wrap(key, words, h("span", { class: "label", id: `label-${key}` }, words.label), rows, add),
    inputs,
    get: () => [...rows.children].map((li) => ({
      path: li.querySelector("input:not([type=checkbox])").value.trim(),
      wake: li.querySelector("input[type=checkbox]").checked,
      ignore: kept.get(li) || [],
    })).filter((f) => f.path),
    set: (v) => {
      rows.replaceChildren();
      kept.clear();
      for (const folder of v || []) row(folder);
      syncInputs();
    },
  };
}

// Fields whose switch (words.enabledBy) is off are disabled.
export function syncEnabled(fields) {
  for (const f of fields) {
    f.sync();
    const by = f.words.enabledBy;
    if (!by) continue;
    const on = $(`s-${by}`)?.checked !== false;
    for (const id of f.inputs) $(id).disabled = !on;
  }
}
