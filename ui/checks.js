/* A setting's check in the page, in words, from its schema property: every number and length
 * in a message comes from the schema, never from this file. A pattern is tested but never
 * shown: the message for it is the setting's own words ("Use a time like 22:00"). */

const CHARACTERS = ["character", "characters"];
const ENTRIES = ["entry", "entries"];

// "1 second", "1,000 bytes", "0.5 minutes", "3" (no unit).
export function amount(n, unit) {
  const text = n.toLocaleString();
  return unit ? `${text} ${n === 1 ? unit[0] : unit[1]}` : text;
}

const patterns = new Map();
function matches(pattern, text) {
  if (!patterns.has(pattern)) {
    try {
      patterns.set(pattern, new RegExp(pattern, "u"));
    } catch {
      patterns.set(pattern, null); // not a JavaScript pattern: the engine checks it alone
    }
  }
  const re = patterns.get(pattern);
  return !re || re.test(text);
}

// null when `value` fits `prop`; otherwise what is wrong, for the user. `words` is the
// setting's entry in settings-labels.js (unit, scale, sentinel, messages).
export function check(value, prop, words = {}) {
  if (value === null && prop.nullable) return null;
  switch (prop.type) {
    case "integer": case "number": return checkNumber(value, prop, words);
    case "string": return checkString(value, prop, words);
    case "array": return checkList(value, prop, words);
    case "object": return checkObject(value, prop, words);
    default: return null;
  }
}

function checkNumber(v, prop, words) {
  const sentinel = words.sentinel?.value;
  if (sentinel !== undefined && v === sentinel) return null;
  const unit = words.unit;
  if (!Number.isFinite(v)) return words.required || `Enter a number${unit ? ` of ${unit[1]}` : ""}.`;
  // A bound that is the sentinel is the checkbox's, not a number to type.
  const bound = (b) => (b === undefined || b === sentinel ? undefined : b);
  const min = bound(prop.minimum);
  const above = bound(prop.exclusiveMinimum);
  const lows = [min, above].filter((b) => b !== undefined);
  if (v < 0 && (lows.length ? lows.every((b) => b >= 0) : sentinel !== undefined)) return "Cannot be negative.";
  const scale = words.scale || 1;
  if (prop.type === "integer" && scale === 1 && !Number.isInteger(v)) return `Use whole ${unit ? unit[1] : "numbers"}.`;
  const shown = (b) => amount(b / scale, unit);
  if (min !== undefined && v < min) return `At least ${shown(min)}.`;
  if (above !== undefined && v <= above) return `Must be more than ${shown(above)}.`;
  if (prop.maximum !== undefined && v > prop.maximum) return `At most ${shown(prop.maximum)}.`;
  if (prop.exclusiveMaximum !== undefined && v >= prop.exclusiveMaximum) return `Must be less than ${shown(prop.exclusiveMaximum)}.`;
  return null;
}

function checkString(v, prop, words) {
  const text = v ?? "";
  if (prop.enum && !prop.enum.includes(text)) return "Pick one of the choices.";
  if (prop.minLength && text.length < prop.minLength) {
    return text === "" ? (words.required || "Cannot be empty.") : `At least ${amount(prop.minLength, CHARACTERS)}.`;
  }
  if (prop.maxLength !== undefined && text.length > prop.maxLength) return `At most ${amount(prop.maxLength, CHARACTERS)}.`;
  if (prop.pattern && !matches(prop.pattern, text)) return words.invalid || "This is not a value the setting takes.";
  return null;
}

function checkList(v, prop, words) {
  const items = Array.isArray(v) ? v : [];
  if (prop.minItems !== undefined && items.length < prop.minItems) return `At least ${amount(prop.minItems, ENTRIES)}.`;
  if (prop.maxItems !== undefined && items.length > prop.maxItems) return `At most ${amount(prop.maxItems, ENTRIES)}.`;
  for (const item of items) {
    const problem = prop.items ? check(item, prop.items, {}) : null;
    if (problem) return prop.items.enum ? "Pick from the choices." : (words.invalid || `“${item}”: ${problem}`);
  }
  return null;
}

function checkObject(v, prop, words) {
  if (v === null || typeof v !== "object") return words.required || "Fill this in.";
  for (const name of prop.required || []) {
    if (v[name] === undefined || v[name] === "") return words.incomplete || "Fill in every part.";
  }
  for (const [name, sub] of Object.entries(prop.properties || {})) {
    if (v[name] !== undefined && check(v[name], sub, {})) return words.invalid || "This is not a value the setting takes.";
  }
  return null;
}
