/* The memory view's read-only part: MEMORY.md and the topic files (open ones stay open). */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { formatBytes, relSpan } from "./format.js";

export async function loadMemory() {
  const r = await api("/api/memory");
  if (!r.ok) throw new Error(r.data.error);
  $("memory-index").textContent = r.data.index || "";
  const open = new Set([...document.querySelectorAll(".topic[open]")].map((d) => d.dataset.name));
  const topics = r.data.topics || [];
  $("memory-topics").replaceChildren(...topics.map((t) => h("details", {
    class: "card topic", "data-testid": "memory-topic", "data-name": t.name, open: open.has(t.name),
  },
  h("summary", null, h("span", { class: "topic-name" }, t.name),
    h("span", { class: "topic-meta" }, `${formatBytes(t.bytes)} · `, relSpan(t.modifiedAt))),
  h("pre", { class: "mono" }, t.text || ""))));
  $("topics-empty").hidden = topics.length > 0;
}
