/* Settings > Channels and tools: every MCP server (a Claude Code plugin's, or one written in
 * channelServers) with its live state (running, restarting and why, refused by the allowlist),
 * and the three things a user does with one: add a plugin by its folder, allow it to start (or
 * stop allowing it), remove it. Everything goes through the application API (/api/plugins), so
 * a change made here, in the CLI or in settings.json is the same change; the list reloads when
 * the engine says a server changed ("sources" events) or the settings did. Nothing polls. */

import { api, post, reportError } from "./api.js";
import { $, h } from "./dom.js";
import { on } from "./events.js";
import { confirmDialog, toast } from "./feedback.js";

const STATE_WORDS = {
  running: "Running", starting: "Starting", restarting: "Restarting", failed: "Failed",
  refused: "Not allowed", off: "Off", stopped: "Stopped", "not running": "Not running",
};

function card() {
  let el = $("servers");
  if (el) return el;
  el = h("section", { class: "card servers", id: "servers", "data-testid": "servers", "aria-labelledby": "servers-title" },
    h("h2", { id: "servers-title" }, "Channels and tools"),
    h("p", { class: "help" }, "MCP servers from Claude Code plugins: chat channels that can write to the assistant, and tools it can call. A server runs only once you allow it; its tools ask you first unless it is set to allow them."),
    h("ul", { class: "server-list", id: "server-list", "data-testid": "server-list" }),
    h("form", { class: "server-add", id: "server-add", "data-testid": "server-add" },
      h("label", { for: "server-path" }, "Add a plugin"),
      h("input", { id: "server-path", "data-testid": "server-path", type: "text", placeholder: "/path/to/plugin (a folder with .mcp.json)", autocomplete: "off" }),
      h("label", { class: "inline" }, h("input", { id: "server-allow", "data-testid": "server-allow", type: "checkbox" }), " Allow it to start"),
      h("button", { type: "submit", class: "btn", "data-testid": "server-add-button" }, "Add"),
      h("p", { class: "field-error", id: "server-error", "data-testid": "server-error", role: "alert", hidden: true })));
  $("settings-form").after(el);
  $("server-add").addEventListener("submit", (e) => {
    e.preventDefault();
    add().catch(reportError);
  });
  return el;
}

export async function loadServers() {
  card();
  const r = await api("/api/plugins");
  if (r.ok) render(Array.isArray(r.data) ? r.data : []);
}

export function onSources() {
  if ($("servers")) loadServers().catch(reportError); // only once the settings view was shown
}

on("sources", onSources);
on("settings", onSources);

function render(rows) {
  const list = $("server-list");
  if (!rows.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No server yet."));
    return;
  }
  list.replaceChildren(...rows.map((row) => {
    const label = row.plugin ? `${row.name} (plugin ${row.plugin})` : row.name;
    const state = STATE_WORDS[row.state] || row.state;
    return h("li", { class: "server", "data-testid": "server", "data-name": row.name, "data-state": row.state },
      h("div", { class: "server-head" },
        h("strong", null, label),
        h("span", { class: `server-state state-${row.state.replace(/\s+/g, "-")}`, "data-testid": "server-state" }, state)),
      row.reason ? h("p", { class: "server-reason", "data-testid": "server-reason" }, row.reason) : null,
      h("p", { class: "server-command" }, h("code", null, row.command)),
      row.toolNames && row.toolNames.length ? h("p", { class: "server-tools" }, `Tools: ${row.toolNames.join(", ")}`) : null,
      h("div", { class: "server-actions" },
        h("label", { class: "inline" },
          h("input", { type: "checkbox", "data-testid": "server-allowed", checked: row.allowed, onchange: (e) => allow(row, e.target.checked).catch(reportError) }),
          " Allowed"),
        h("button", { type: "button", class: "btn btn-danger", "data-testid": "server-remove", onclick: () => remove(row).catch(reportError) }, "Remove")));
  }));
}

async function add() {
  const error = $("server-error");
  const path = $("server-path").value.trim();
  error.hidden = true;
  if (!path) {
    error.textContent = "Give the path of a plugin folder or of a .mcp.json file.";
    error.hidden = false;
    return;
  }
  const r = await post("/api/plugins", { path, allow: $("server-allow").checked });
  if (!r.ok) {
    error.textContent = r.data.error;
    error.hidden = false;
    return;
  }
  $("server-path").value = "";
  toast(`Added ${r.data.plugin}: ${r.data.servers.join(", ")}`);
  if (r.data.allowed && !r.data.channelsEnabled) toast("Channels are off: turn on channelsEnabled to start it.", "error");
  await loadServers();
}

async function allow(row, allowed) {
  const r = await post(`/api/plugins/${encodeURIComponent(row.name)}/allow`, { allowed });
  if (!r.ok) toast(r.data.error || "It was not changed.", "error");
  await loadServers();
}

async function remove(row) {
  const what = row.plugin ? `plugin ${row.plugin} (all its servers)` : `server ${row.name}`;
  const ok = await confirmDialog("Remove it?", `${what} will be stopped and removed from the settings. Its folder is left as it is.`, "Remove");
  if (!ok) return;
  const r = await api(`/api/plugins/${encodeURIComponent(row.plugin || row.name)}`, { method: "DELETE" });
  if (!r.ok) toast(r.data.error || "It was not removed.", "error");
  await loadServers();
}
