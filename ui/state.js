/* What more than one part of the page reads: the view shown, the engine's status, the settings,
 * the pending approvals. Each view keeps the rest of its state to itself. A view that depends
 * on the settings subscribes with onSettings instead of being called by the settings view. */

export const state = {
  view: null,
  status: {},
  settings: null,
  assistantName: "Kairos",
  approvals: new Map(), // id -> pending approval
  sseBroken: false,
};

const settingsListeners = [];

export function onSettings(listener) {
  settingsListeners.push(listener);
}

export function publishSettings(settings) {
  for (const listener of settingsListeners) listener(settings);
}
