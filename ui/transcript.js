/* The chat's transcript mode: the session as the model saw it, every tool call with its input
 * and result. Loaded when first shown, then extended live. */

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { when } from "./format.js";
import { nearBottom, scrollChat } from "./scroll.js";
import { state } from "./state.js";

const toolEls = new Map(); // toolUseId -> details element
let loaded = false;

export async function loadTranscript() {
  const r = await api("/api/transcript?limit=40");
  if (!r.ok) throw new Error(r.data.error);
  const list = $("transcript-list");
  list.replaceChildren();
  toolEls.clear();
  const { summary, entries = [] } = r.data;
  $("transcript-summary").hidden = !summary;
  $("transcript-summary").textContent = summary ? `Earlier: ${summary}` : "";
  for (const entry of entries) {
    if (entry.type === "tool_use") appendToolCall(entry.name, entry.input, entry.toolUseId);
    else if (entry.type === "tool_result") {
      const el = toolEls.get(entry.toolUseId);
      if (el) setToolResult(el, entry.text, entry.isError);
      else list.append(h("li", { class: "t-entry t-user", "data-testid": "transcript-entry" },
        h("div", { class: "t-role" }, "tool result"), h("div", { class: "t-text" }, entry.text || "")));
    } else appendTranscriptText(entry.role, entry.text, entry.at);
  }
  loaded = true;
  $("transcript-empty").hidden = entries.length > 0;
  scrollChat(true);
}

// The user's message, once the transcript is on the page (otherwise its next load has it).
export function appendUserText(text, at) {
  if (loaded) appendTranscriptText("user", text, at);
}

// What the app wrapped around a turn's input for the model (<tick/>, <message from="user">,
// <scheduled-task>, <event>, <external>, <channel>), in words: the markup is the model's, not
// the user's. Tags the page does not know stay as they are.
const ATTR = /([\w-]+)="([^"]*)"/g;
const BLOCK = /<(tick)\b([^>]*?)\/>|<(message|scheduled-task|event|external|channel)\b([^>]*)>\n?([\s\S]*?)\n?<\/\3>/g;
const unescape = (t) => t.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&amp;/g, "&");

function attrs(text) {
  return Object.fromEntries([...(text || "").matchAll(ATTR)].map((m) => [m[1], unescape(m[2])]));
}

export function inWords(text) {
  return String(text).replace(BLOCK, (_all, tick, tickAttrs, tag, tagAttrs, body) => {
    if (tick) {
      const a = attrs(tickAttrs);
      const idle = a.last_interaction ? `, your last message ${a.last_interaction}` : "";
      return `[wake-up${a.time ? ` at ${when(a.time)}` : ""}: you were ${a.user || "away"}${idle}]`;
    }
    const a = attrs(tagAttrs);
    const inner = tag === "message" ? body || "" : unescape(body || ""); // only others' is escaped
    if (tag === "message") return inner;
    if (tag === "scheduled-task") return `[scheduled task${a.catch_up === "true" ? ", caught up" : ""}] ${inner}`;
    if (tag === "event") return `[${a.kind || "event"} from ${a.source || "?"}] ${inner}`;
    return `[from ${a.source || tag}, not your words] ${inner}`;
  });
}

function appendTranscriptText(role, text, at) {
  const body = role === "user" ? inWords(text || "") : String(text || "");
  const long = body.length > 900;
  const content = long
    ? h("details", null, h("summary", { class: "t-text" }, `${body.slice(0, 300)}…`), h("div", { class: "t-text" }, body))
    : h("div", { class: "t-text" }, body);
  $("transcript-list").append(h("li", {
    class: `t-entry t-${role === "user" ? "user" : "assistant"}`, "data-testid": "transcript-entry",
    "data-type": "text", "data-role": role,
  }, h("div", { class: "t-role" }, role === "user" ? "user" : state.assistantName,
    at ? ` · ${when(at)}` : ""), content));
  $("transcript-empty").hidden = true;
}

function appendToolCall(name, input, toolUseId) {
  const inputText = JSON.stringify(input ?? {}, null, 2);
  const preview = JSON.stringify(input ?? {});
  const body = h("div", { class: "t-tool-body" }, h("h3", null, "Input"),
    h("pre", { class: "mono", "data-testid": "transcript-tool-input" }, inputText));
  const details = h("details", { class: "t-tool", "data-testid": "transcript-tool", "data-name": name || "" },
    h("summary", null, h("span", { class: "t-tool-name" }, name || "tool"),
      h("span", { class: "t-tool-preview" }, preview.length > 120 ? `${preview.slice(0, 120)}…` : preview)),
    body);
  const li = h("li", { class: "t-entry", "data-testid": "transcript-entry", "data-type": "tool_use" }, details);
  $("transcript-list").append(li);
  if (toolUseId) toolEls.set(toolUseId, details);
  $("transcript-empty").hidden = true;
  return details;
}

function setToolResult(details, text, isError) {
  const body = details.querySelector(".t-tool-body");
  body.querySelector(".t-result-wrap")?.remove();
  const resultText = typeof text === "string" ? text : JSON.stringify(text, null, 2);
  body.append(h("div", { class: "t-result-wrap" },
    h("h3", null, isError ? "Result (error)" : "Result"),
    h("pre", { class: "mono t-result", "data-testid": "transcript-tool-result" }, resultText ?? "")));
  details.classList.toggle("is-error", Boolean(isError));
  if (isError) details.querySelector("summary").append(h("span", { class: "badge badge-error" }, "error"));
}

// The "tool" event: one call with its result.
export function onTool(data) {
  if (!loaded) return;
  const stick = nearBottom();
  const details = appendToolCall(data.name, data.input, null);
  setToolResult(details, data.result, data.isError);
  if (stick) scrollChat(true);
}
