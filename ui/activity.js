/* The activity view's daily log: pick a day, filter it as you type, matches highlighted. */

import { api, reportError } from "./api.js";
import { $, debounce, h } from "./dom.js";
import { localDay } from "./format.js";
import { state } from "./state.js";

let logDate = ""; // "" = today
let logSeq = 0;

export async function loadLog() {
  const params = new URLSearchParams();
  if (logDate) params.set("date", logDate);
  const q = $("log-search").value.trim();
  if (q) params.set("q", q);
  const seq = ++logSeq;
  const r = await api(`/api/log?${params}`);
  if (seq !== logSeq) return;
  if (!r.ok) throw new Error(r.data.error);
  const { date, dates = [], entries = [] } = r.data;
  const select = $("log-date");
  const all = dates.includes(date) ? dates : [date, ...dates];
  const today = localDay(new Date());
  select.replaceChildren(...all.map((d) => h("option", { value: d, selected: d === date }, d === today ? `Today (${d})` : d)));
  select.value = date;
  $("log-list").replaceChildren(...entries.map((e) => h("li", { class: "log-entry", "data-testid": "log-entry" },
    h("span", { class: "log-time" }, e.time),
    h("span", { class: "log-kind", title: e.kind }, highlight(e.kind, q)),
    h("span", { class: "log-text" }, highlight(e.text, q)))));
  $("log-empty").hidden = entries.length > 0;
  $("log-empty").textContent = q ? `Nothing matches “${q}” on ${date}.` : "Nothing logged that day.";
}

// Something was logged: today's log, when shown, follows.
export const refreshLog = debounce(() => {
  if (state.view === "activity" && (!logDate || logDate === localDay(new Date()))) loadLog().catch(reportError);
}, 800);

function highlight(text, q) {
  const str = String(text ?? "");
  if (!q) return str;
  const frag = document.createDocumentFragment();
  const needle = q.toLowerCase();
  const lower = str.toLowerCase();
  let at = 0;
  for (;;) {
    const found = lower.indexOf(needle, at);
    if (found < 0) break;
    frag.append(str.slice(at, found), h("mark", null, str.slice(found, found + q.length)));
    at = found + q.length;
  }
  frag.append(str.slice(at));
  return frag;
}

export function wireActivity() {
  $("log-date").addEventListener("change", () => {
    logDate = $("log-date").value;
    loadLog().catch(reportError);
  });
  const search = debounce(() => loadLog().catch(reportError), 250);
  $("log-search").addEventListener("input", search);
}
