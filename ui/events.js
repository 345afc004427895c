/* The live event stream (/api/events, server-sent events): the page never polls. A dropped
 * stream shows "reconnecting…", is retried with a growing delay, and once it is back the page
 * catches up through the resync callback. */

import { api, eventsUrl } from "./api.js";
import { $ } from "./dom.js";
import { state } from "./state.js";
import { renderStatus } from "./status.js";

const NAMES = ["message", "inbound", "file", "notification", "state", "settings", "usage",
  "tool", "task", "tasks", "dream", "approval", "inbox", "budget", "held", "sources"];

const handlers = new Map(); // event name -> [handler(data)]
let source = null;
let retryDelay = 2000;
let resync = () => {};

export function on(name, ...fns) {
  handlers.set(name, [...(handlers.get(name) || []), ...fns]);
}

export function connectEvents(onReconnect = resync) {
  resync = onReconnect;
  source = new EventSource(eventsUrl());
  source.onopen = () => {
    retryDelay = 2000;
    if (state.sseBroken) {
      state.sseBroken = false;
      $("conn-banner").hidden = true;
      resync();
    }
    renderStatus();
  };
  source.onerror = () => {
    state.sseBroken = true;
    $("conn-banner").hidden = false;
    renderStatus();
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. an HTTP error): check the token, then try again later.
      source = null;
      setTimeout(async () => {
        try {
          await api("/api/status");
          connectEvents();
        } catch {
          /* unauthorized: the fatal page is shown */
        }
      }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    }
  };
  for (const name of NAMES) {
    source.addEventListener(name, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      try {
        for (const handle of handlers.get(name) || []) handle(data || {});
      } catch (err) {
        console.error(`event ${name}`, err);
      }
    });
  }
}

// Leave no stream behind: a half-open one would hold the app's shutdown.
export function closeEvents() {
  if (source) source.close();
  source = null;
}
