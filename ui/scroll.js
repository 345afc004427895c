/* The chat's scroll area, shared by the brief and the transcript list: new items keep it at
 * the bottom only when the user was already there. */

import { $ } from "./dom.js";

export function nearBottom() {
  const sc = $("chat-scroll");
  return sc.scrollHeight - sc.scrollTop - sc.clientHeight < 120;
}

export function scrollChat(force = false) {
  const sc = $("chat-scroll");
  if (force || nearBottom()) requestAnimationFrame(() => { sc.scrollTop = sc.scrollHeight; });
}
