/* Reading the settings' JSON Schema (GET /api/settings/schema, written by pydantic): each
 * setting's type and the values the engine accepts, flattened so the form needs no bound or
 * type of its own. $ref is resolved through $defs; anyOf [X, null] is X, nullable. */

import { api } from "./api.js";

export async function loadSchema() {
  const r = await api("/api/settings/schema");
  if (!r.ok) throw new Error(r.data.error);
  return r.data;
}

export function settingKeys(schema) {
  return Object.keys(schema.properties || {});
}

// {type, nullable, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength,
//  pattern, enum, default, items: {...}, properties: {name: {...}}, required: [...]}
export function property(schema, key) {
  return flatten(schema, schema.properties?.[key]);
}

function resolve(schema, node) {
  if (!node || typeof node.$ref !== "string") return node || {};
  const name = node.$ref.split("/").pop();
  const { $ref, ...rest } = node;
  return { ...resolve(schema, schema.$defs?.[name]), ...rest };
}

function flatten(schema, node) {
  if (!node) return null;
  let base = resolve(schema, node);
  let nullable = false;
  if (Array.isArray(base.anyOf)) {
    const kinds = base.anyOf.map((n) => resolve(schema, n));
    nullable = kinds.some((k) => k.type === "null");
    const rest = kinds.filter((k) => k.type !== "null");
    const { anyOf, ...outer } = base;
    base = rest.length === 1 ? { ...rest[0], ...outer } : { ...outer, type: "unknown" };
  }
  if (Array.isArray(base.type)) { // ["string", "null"]
    nullable = nullable || base.type.includes("null");
    const rest = base.type.filter((t) => t !== "null");
    base = { ...base, type: rest.length === 1 ? rest[0] : "unknown" };
  }
  const out = { ...base, nullable };
  if (base.items) out.items = flatten(schema, base.items);
  if (base.properties) {
    out.properties = Object.fromEntries(Object.entries(base.properties)
      .map(([name, sub]) => [name, flatten(schema, sub)]));
  }
  return out;
}
