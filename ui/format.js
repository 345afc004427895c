/* Numbers and times in words for people: sizes, costs, "in 5 min", "Mon 3 Nov, 09:00". One
 * place, so every view says a time or an amount the same way. */

import { h } from "./dom.js";

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatCost(usd) {
  const v = Number(usd) || 0;
  if (v === 0) return "$0";
  if (v < 0.01) return "<$0.01";
  return `$${v.toFixed(2)}`;
}

export function formatInt(n) {
  return (Number(n) || 0).toLocaleString();
}

export function toDate(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function localDay(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function relTime(iso, now = Date.now()) {
  const d = toDate(iso);
  if (!d) return "";
  const sec = Math.round((d.getTime() - now) / 1000);
  const abs = Math.abs(sec);
  if (abs < 45) return sec >= 0 ? "in a moment" : "just now";
  let amount;
  if (abs < 90 * 60) amount = `${Math.round(abs / 60)} min`;
  else if (abs < 36 * 3600) amount = `${Math.round(abs / 3600)} h`;
  else amount = `${Math.round(abs / 86400)} d`;
  return sec >= 0 ? `in ${amount}` : `${amount} ago`;
}

export function clock(iso) {
  const d = toDate(iso);
  return d ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
}

export function when(iso) {
  const d = toDate(iso);
  if (!d) return "";
  const today = localDay(new Date());
  if (localDay(d) === today) return clock(iso);
  const opts = { weekday: "short", day: "numeric", month: "short" };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric";
  return `${d.toLocaleDateString([], opts)}, ${clock(iso)}`;
}

// A relative time that refreshRelativeTimes keeps fresh (it finds it by data-rel).
export function relSpan(iso, extra) {
  return h("time", { datetime: iso, "data-rel": iso, title: toDate(iso)?.toLocaleString(), ...extra },
    relTime(iso));
}

export function refreshRelativeTimes() {
  for (const el of document.querySelectorAll("[data-rel]")) {
    el.textContent = relTime(el.getAttribute("data-rel"));
  }
}
