/* The activity view's cost chart: estimated cost per day for the last 30 days, as an SVG with
 * a tooltip per day (calls, tokens in and out, cache reads and writes, web searches); the daily
 * budget's line; and today's turns, each with what it did and what it cost. */

import { api, reportError } from "./api.js";
import { $, debounce, h, s } from "./dom.js";
import { formatCost, formatInt, localDay, plural } from "./format.js";
import { state } from "./state.js";

export async function loadUsage() {
  const [r, turns, budget] = await Promise.all([api("/api/usage"), api("/api/usage/turns"), api("/api/budget")]);
  if (!r.ok) throw new Error(r.data.error);
  renderUsage(r.data);
  if (turns.ok) renderTurns(turns.data);
  if (budget.ok) renderBudgetLine(budget.data);
}

function renderBudgetLine(budget) {
  const line = $("usage-budget");
  line.hidden = false;
  line.dataset.state = budget.state;
  line.textContent = budget.capUsd == null
    ? `Today: ${formatCost(budget.spentUsd)}; no daily budget (setting dailyBudgetUsd).`
    : `Today: ${formatCost(budget.spentUsd)} of the ${formatCost(budget.capUsd)} daily budget`
      + `${budget.raisedToday ? " (raised for today)" : ""}${budget.state === "reached" ? ": reached, no model call until midnight." : "."}`;
}

const CALLERS = { turn: "turn", dream: "dream", light: "light tick", compaction: "compaction" };

function renderTurns(rows) {
  const list = $("usage-turns");
  list.replaceChildren(...(rows || []).map((t) => h("li", { class: "turn-row", "data-testid": "usage-turn" },
    h("span", { class: "turn-time" }, String(t.at || "").slice(11, 16)),
    h("span", { class: "turn-caller" }, CALLERS[t.caller] || t.caller || ""),
    h("span", { class: "turn-cost", "data-testid": "usage-turn-cost" }, formatCost(t.costUsd)),
    h("span", { class: "turn-what", "data-testid": "usage-turn-what" }, turnWhat(t)))));
  $("usage-turns-empty").hidden = (rows || []).length > 0;
}

function turnWhat(t) {
  const counts = new Map();
  for (const name of t.tools || []) counts.set(name, (counts.get(name) || 0) + 1);
  const tools = [...counts].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name)).join(", ");
  const ended = t.ended && t.ended !== "reply" && t.ended !== "stopped" ? ` (${t.ended.replaceAll("_", " ")})` : "";
  return `${plural(t.calls || 0, "call")}${tools ? `: ${tools}` : ""}${ended}`;
}

export const refreshUsage = debounce(() => { if (state.view === "activity") loadUsage().catch(reportError); }, 800);

function renderUsage(rows) {
  const byDate = new Map((rows || []).map((row) => [row.date, row]));
  const days = [];
  const now = new Date();
  for (let back = 29; back >= 0; back -= 1) {
    const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() - back);
    const key = localDay(d);
    days.push({ date: key, day: d, calls: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0, costUsd: 0, ...byDate.get(key) });
  }
  const max = Math.max(...days.map((d) => Number(d.costUsd) || 0), 0.0001);
  const W = 300;
  const H = 100;
  const slot = W / days.length;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "Estimated cost per day, last 30 days" });
  days.forEach((d, i) => {
    const cost = Number(d.costUsd) || 0;
    const height = cost > 0 ? Math.max(2, (cost / max) * (H - 4)) : 1.5;
    const label = d.day.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });
    const title = `${label}: ${formatCost(cost)} · ${plural(d.calls || 0, "call")} · ${formatInt(d.input)} in / ${formatInt(d.output)} out tokens`
      + ` · cache ${formatInt(d.cacheRead)} read / ${formatInt(d.cacheWrite)} written`
      + (d.webSearches ? ` · ${d.webSearches} web search${d.webSearches === 1 ? "" : "es"}` : "");
    svg.append(s("g", { "data-testid": "usage-bar", "data-date": d.date, "data-cost": cost },
      s("title", null, title),
      s("rect", { class: "hit", x: i * slot, y: 0, width: slot, height: H, fill: "transparent" }),
      s("rect", {
        class: `bar${cost > 0 ? "" : " zero"}${i === days.length - 1 ? " today" : ""}`,
        x: i * slot + slot * 0.14, y: H - height, width: slot * 0.72, height, rx: 1,
      })));
  });
  svg.append(s("line", { class: "axis", x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5 }));
  const labels = h("div", { class: "usage-labels" },
    h("span", null, days[0].day.toLocaleDateString([], { day: "numeric", month: "short" })),
    h("span", null, `max ${formatCost(max > 0.0001 ? max : 0)}/day`),
    h("span", null, "today"));
  $("usage-chart").replaceChildren(svg, labels);
  const total = days.reduce((sum, d) => sum + (Number(d.costUsd) || 0), 0);
  const calls = days.reduce((sum, d) => sum + (Number(d.calls) || 0), 0);
  $("usage-total").replaceChildren(h("strong", null, formatCost(total)), ` in 30 days · ${plural(calls, "call")}`);
}
