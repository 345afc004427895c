/* The settings form's words: which card each setting is in, its label and help in the user's
 * terms, the unit it is shown in. No bound and no type lives here (they come from the JSON
 * Schema, see schema.js); a setting the schema has and this table does not still gets a field,
 * under "More settings", labelled from its key.
 *
 * Per key: label, help, unit [one, many] (for messages), scale (stored units per shown unit:
 * 1000 shows milliseconds as seconds), mono, placeholder, rows, step, choices {value: words},
 * required / invalid / incomplete (messages), sentinel {value, label, testid} (a checkbox for a
 * special value), parts {name: {label, type, start}} (an object's inputs), enabledBy (a switch
 * that must be on). */

const SECONDS = ["second", "seconds"];
const MINUTES = ["minute", "minutes"];
const BYTES = ["byte", "bytes"];
const TOKENS = ["token", "tokens"];

export const LABELS = {
  assistantName: { label: "Name", required: "Give the assistant a name." },
  defaultView: {
    label: "Chat opens in",
    choices: { chat: "Brief view (messages only)", transcript: "Transcript (every tool call)" },
  },
  model: { label: "Model", help: "An Anthropic model id, like claude-sonnet-5-5.", mono: true },
  minSleepDurationMs: { label: "Minimum sleep (seconds)", unit: SECONDS, scale: 1000 },
  maxSleepDurationMs: {
    label: "Maximum sleep (minutes)", unit: MINUTES, scale: 60000,
    required: "Enter a number of minutes, or tick “until something arrives”.",
    sentinel: { value: -1, label: "until something arrives", testid: "setting-maxSleepUntilArrival" },
  },
  autoDreamEnabled: { label: "Dream at night (consolidate memory)" },
  notificationsEnabled: { label: "Desktop notifications" },
  notifyStatuses: {
    label: "Notify for messages that are", choices: { normal: "replies (normal)", proactive: "proactive" },
  },
  quietHours: {
    label: "Quiet hours", incomplete: "Pick both times.", invalid: "Use times like 22:00.",
    parts: { start: { label: "from", type: "time", start: "22:00" }, end: { label: "to", type: "time", start: "07:00" } },
  },
  inboxDir: { label: "Inbox folder", mono: true, placeholder: "(default: Downloads/<name> Inbox)" },
  channelsEnabled: { label: "Listen to channels (MCP servers)" },
  allowedChannelPlugins: { label: "Allowed channel plugins (one per line)", mono: true },
  runCommandEnabled: { label: "Let the assistant run shell commands (each one asks you first)" },
  runCommandAllowlist: {
    label: "Run without asking: commands starting with (one per line)", mono: true, enabledBy: "runCommandEnabled",
  },
  approvalTimeoutSeconds: { label: "Wait for an answer (seconds)", unit: SECONDS, enabledBy: "runCommandEnabled" },
  runCommandTimeoutSeconds: { label: "Time limit per command (seconds)", unit: SECONDS, enabledBy: "runCommandEnabled" },
  runCommandMaxOutputBytes: { label: "Output kept (bytes)", unit: BYTES, step: 1000, enabledBy: "runCommandEnabled" },
  dailyBudgetUsd: {
    label: "Daily budget (US dollars)", unit: ["dollar", "dollars"], step: 0.5,
    help: "At this spend no model call is made until midnight (or until you raise today's budget). Reminders are still delivered.",
    required: "Enter an amount, or tick “no daily budget”.",
    sentinel: { value: null, label: "no daily budget", testid: "setting-dailyBudgetNone" },
  },
  webSearchEnabled: { label: "Let the assistant search the web ($10 per 1,000 searches)" },
  webFetchEnabled: { label: "Let the assistant read web pages (paid as input tokens)" },
  webSearchMaxUses: { label: "Searches per turn, at most", unit: ["search", "searches"] },
  webFetchMaxUses: { label: "Pages read per turn, at most", unit: ["page", "pages"] },
  webAllowedDomains: {
    label: "Only these sites (one per line)", mono: true, placeholder: "docs.python.org",
    help: "Like example.com or example.com/blog (subdomains included). Leave empty for every site.",
  },
  webBlockedDomains: {
    label: "Never these sites (one per line)", mono: true, help: "Only when the list above is empty.",
  },

  // More settings
  allowedFolders: { label: "Folders the assistant may read and send files from (one per line)", mono: true, help: "Besides its own workspace." },
  timeZone: { label: "Time zone", mono: true, placeholder: "(default: the system's)", help: "For cron times and wake-ups: a name like Europe/Paris." },
  maxToolIterations: { label: "Model calls per turn", unit: ["call", "calls"], help: "A turn that needs more is cut off." },
  maxOutputTokens: { label: "Longest reply per model call (tokens)", unit: TOKENS },
  contextBudgetTokens: { label: "Context kept (tokens)", unit: TOKENS, help: "Past this, older turns are folded into a summary." },
  memoryPromptTokens: { label: "Memory's share of the prompt (tokens)", unit: TOKENS },
  maxReadBytes: { label: "Most a file read returns at once (bytes)", unit: BYTES, step: 1000 },
  maxInboxFileBytes: { label: "Largest file it may deliver (bytes)", unit: BYTES, step: 1024 },
  presenceWindowMinutes: { label: "You count as present after your last message for (minutes)", unit: MINUTES },
  notifyBurstLimit: { label: "Notifications in a row before they become one summary", unit: ["notification", "notifications"] },
  notifyBurstWindowMinutes: { label: "Counted as one burst within (minutes)", unit: MINUTES },
  channelRateLimitPerMinute: { label: "Channel messages per minute, at most", unit: ["message", "messages"] },
  githubApiUrl: { label: "GitHub API address", mono: true },
  githubPollMinSeconds: { label: "Shortest wait between GitHub checks (seconds)", unit: SECONDS },
  githubPollMaxSeconds: { label: "Longest wait between GitHub checks (seconds)", unit: SECONDS },
  folderDebounceSeconds: { label: "Watched folders: wait for changes to settle (seconds)", unit: SECONDS },
  sourceBudgetChars: { label: "What events add to one wake-up, at most (characters)", unit: ["character", "characters"] },
  recurringMaxAgeMs: { label: "Recurring tasks end after (days)", unit: ["day", "days"], scale: 86400000, help: "Unless they are permanent." },
  maxScheduledTasks: { label: "Most scheduled tasks", unit: ["task", "tasks"] },
  dreamMinHours: { label: "Hours between dreams, at least", unit: ["hour", "hours"] },
  dreamMinSessions: { label: "Sessions between dreams, at least", unit: ["session", "sessions"] },
  dreamMaxDeleteShare: { label: "Share of memory a dream may delete (like 0.2 for a fifth)", help: "A dream that would delete more stops and asks you." },
  dreamMaxTurns: { label: "Model calls per dream", unit: ["call", "calls"] },
  channelServers: { label: "Channel servers" },
  watchedFolders: {
    label: "Watched folders", folders: true, incomplete: "Give each folder a path.",
    help: "Changes there reach the assistant as one summary per folder (.git, build outputs and editor files are left out).",
  },
};

// The cards, in order. A nested list is one row of fields. "rest": every other setting.
export const SECTIONS = [
  { legend: "Assistant", keys: ["assistantName", "defaultView", "model", "timeZone"] },
  {
    legend: "Sleep", hint: "Between two wake-ups the assistant sleeps at least the minimum and at most the maximum.",
    keys: [["minSleepDurationMs", "maxSleepDurationMs"]],
  },
  { legend: "Memory", keys: ["autoDreamEnabled"], note: "dream-info" },
  { legend: "Notifications", keys: ["notificationsEnabled", "notifyStatuses", "quietHours"] },
  { legend: "Files", keys: ["inboxDir", "allowedFolders", "watchedFolders"] },
  { legend: "Channels", keys: ["channelsEnabled", "allowedChannelPlugins"] },
  { legend: "Budget", keys: ["dailyBudgetUsd"] },
  {
    legend: "Web", hint: "What the assistant finds on the web is someone else's text: it cites the pages it used.",
    keys: ["webSearchEnabled", "webFetchEnabled", ["webSearchMaxUses", "webFetchMaxUses"], "webAllowedDomains", "webBlockedDomains"],
  },
  {
    legend: "Commands",
    keys: ["runCommandEnabled", "runCommandAllowlist", ["approvalTimeoutSeconds", "runCommandTimeoutSeconds", "runCommandMaxOutputBytes"]],
  },
  { legend: "More settings", keys: "rest", collapsed: true },
];

// Rules the JSON Schema does not carry: the engine's own validators (a model id's shape, a
// maximum sleep of 0) and one the page adds (quiet hours that start when they end would be
// empty). Each gets the value as it would be sent and returns a message or null.
const MODEL_ID = /^claude-[a-z0-9]+([.-][a-z0-9]+)*$/;
export const RULES = {
  model: (v) => (!v ? "Enter a model id." : MODEL_ID.test(v) ? null
    : "Not an Anthropic model id: it looks like claude-sonnet-5-5 (lowercase letters, digits, dots and dashes)."),
  maxSleepDurationMs: (v) => (v === 0 ? "Must be more than 0 minutes." : null),
  quietHours: (v) => (v && v.start === v.end ? "Start and end must differ." : null),
  dailyBudgetUsd: (v) => (v !== null && !(v > 0) ? "Must be more than $0, or tick “no daily budget”." : null),
  webAllowedDomains: (v) => badDomain(v),
  webBlockedDomains: (v) => badDomain(v),
};

// As the engine checks them: a host of two labels or more, then a path; one *, only in the path.
const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(?:\/[^\s*]*(?:\*[^\s*]*)?)?$/;
function badDomain(list) {
  const bad = (list || []).find((d) => !DOMAIN.test(String(d).trim().replace(/^[^/]*/, (host) => host.toLowerCase())));
  return bad === undefined ? null : `“${bad}” is not a site like example.com or example.com/blog (no https://, at most one * and only after the site).`;
}

// "maxToolIterations" -> "Max tool iterations", for a setting this table does not know yet.
export function labelFor(key) {
  const words = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
