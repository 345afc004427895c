/* Talking to the engine's control API: the token (traded for a one-time ?code=, kept in this
 * tab's sessionStorage for reloads, never left in the address bar or the history), the JSON
 * fetch wrapper that sends it in X-Kairos-Token, and the page shown when it is missing. */

import { $ } from "./dom.js";

const TOKEN_KEY = "kairos-token";
let TOKEN = "";

// Thrown on a 401: the fatal page is already shown, so callers only need to stop.
export class AuthError extends Error {}

// {ok, status, data}; a network failure is {ok: false, status: 0, data: {error}} in words.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { "X-Kairos-Token": TOKEN, Accept: "application/json" };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: { error: "The assistant is not answering. Is it still running?" } };
  }
  if (response.status === 401) {
    forgetToken();
    showFatal();
    throw new AuthError("unauthorized");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok && !(data && data.error)) {
    data = { error: `The assistant answered ${response.status}.` };
  }
  return { ok: response.ok, status: response.status, data };
}

export function post(path, body = {}) {
  return api(path, { method: "POST", body });
}

// The event stream cannot send headers: its URL carries the token.
export function eventsUrl() {
  return `/api/events?token=${encodeURIComponent(TOKEN)}`;
}

export function reportError(err) {
  if (err instanceof AuthError) return;
  console.error(err);
}

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return ""; // storage disabled: the page still works until it is reloaded
  }
}

function storeToken(token) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* see storedToken */
  }
}

function forgetToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* see storedToken */
  }
}

// The token for this page: from a one-time ?code= (traded at the server), a ?token=, or what
// this tab stored before a reload. The query string leaves the address bar and the history
// entry before anything else happens; the #view stays. "" means the page cannot work; null
// means it could not ask, and the page already says so.
export async function acquireToken() {
  TOKEN = await findToken();
  return TOKEN;
}

async function findToken() {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const fromUrl = params.get("token");
  if (code === null && fromUrl === null) return storedToken();
  history.replaceState(history.state, "", location.pathname + location.hash);
  if (code === null) {
    if (fromUrl) storeToken(fromUrl);
    return fromUrl;
  }
  let response;
  try {
    response = await fetch("/api/panel/session", {
      method: "POST", cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ code }),
    });
  } catch {
    showFatal("The assistant is not answering", "Is it still running? Open the panel again from the tray, or run kairos panel.");
    return null;
  }
  const data = response.ok ? await response.json().catch(() => null) : null;
  const token = data && typeof data.token === "string" ? data.token : "";
  if (token) storeToken(token);
  else forgetToken();
  return token;
}

export function showFatal(title, text) {
  if (title) $("fatal-title").textContent = title;
  if (text) $("fatal-text").textContent = text;
  $("fatal").hidden = false;
  $("app").hidden = true;
  $("app").setAttribute("inert", "");
}
