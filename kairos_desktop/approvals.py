"""The approval broker: an action the model asks for waits here until the user allows or denies it.

A request is announced three ways at once (the event bus, so the panel shows it; a notification
with Allow and Deny buttons; the daily log) and ends one way: the user's decision from the panel,
the notification or the CLI, or the timeout (approvalTimeoutSeconds, waited on the injected clock),
which denies it. Silence never means yes. Every outcome and its reason is logged.

The deadline is fixed when the request is made and the notification is sent in the background, so
a hung notification server cannot keep a request from expiring. The notification shows the
command on one line (line breaks as " ⏎ ", invisible characters escaped, cut at BODY_LIMIT): a
command hidden behind blank lines must not sit beside an Allow button looking harmless. One it
cannot show whole goes out as kind "approval-review", which offers no Allow: review it in the panel.

Pending requests live in memory only: a restart (or `cancel_all` at engine stop) denies them, and
a decision that arrives afterwards is told the request no longer exists.

The same broker asks for an MCP tool call (`action="use a tool"`, `tool`, `tool_input`): one place
decides, one log records. Watchers (`on_request`) hear of every new request: the channels relay it
to a chat through Claude Code's permission relay, and a verdict from there is one more `decide`
(by "channel NAME").
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .clock import Clock, add_seconds
from .delivery.notifier import Notification
from .errors import ApprovalClosedError, ApprovalNotFoundError
from .events import EventBus
from .journal import DailyLog
from .settings import Settings

log = logging.getLogger(__name__)

ApprovalState = Literal["pending", "allowed", "denied", "expired"]
# Closed requests remembered so a late decision is told "already decided" rather than "unknown".
CLOSED_KEPT = 200
# The notification shows at most this many characters of the command; the panel shows it all.
BODY_LIMIT = 160
# What a notification server may draw as a line break (str.splitlines' boundaries).
LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass
class ApprovalDecision:
    allowed: bool
    reason: str
    approval_id: str


@dataclass
class _Request:
    record: dict[str, Any]
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""
    # The notification being sent; cancelled if the request closes first.
    announcing: asyncio.Task[None] | None = None
    action: str = "run a command"  # the notification's "wants to ..."
    tool: str = "RunCommand"
    tool_input: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> ApprovalState:
        state: ApprovalState = self.record["state"]
        return state


class Approvals:
    """Requests waiting for the user, and the decisions that close them."""

    def __init__(self, *, clock: Clock, daily_log: DailyLog, bus: EventBus,
                 notify: Callable[[Notification], Awaitable[bool]],
                 settings: Callable[[], Settings]) -> None:
        self._clock = clock
        self._log = daily_log
        self._bus = bus
        self._notify = notify
        self._settings = settings
        self._pending: dict[str, _Request] = {}
        self._closed: OrderedDict[str, _Request] = OrderedDict()
        self._watchers: list[Callable[[dict[str, Any]], None]] = []

    def on_request(self, fn: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call `fn(record)` for every new request, once it is pending; returns the undo."""
        self._watchers.append(fn)
        return lambda: self._watchers.remove(fn) if fn in self._watchers else None

    async def request(self, command: str, cwd: str, *, why: str = "",
                      action: str = "run a command", tool: str = "RunCommand",
                      tool_input: dict[str, Any] | None = None) -> ApprovalDecision:
        """Ask the user to allow `command` in `cwd`; returns once they answer or time runs out.
        `why`: why it was not let through without asking (shown with the request). `action`
        (the notification's "wants to ..."), `tool` and `tool_input` describe what asks."""
        settings = self._settings()
        timeout = settings.approval_timeout_seconds
        now = self._clock.now()
        deadline = self._clock.monotonic() + timeout  # fixed now: nothing below may push it back
        entry = _Request({
            "id": uuid.uuid4().hex[:12],
            "command": command,
            "cwd": cwd,
            "requestedAt": now.isoformat(timespec="seconds"),
            "expiresAt": add_seconds(now, timeout).isoformat(timespec="seconds"),
            "state": "pending",
            "why": why,
        }, action=action, tool=tool,
            tool_input=tool_input if tool_input is not None else {"command": command, "cwd": cwd})
        approval_id = entry.record["id"]
        self._pending[approval_id] = entry
        self._log.append("approval", f"asked the user (id {approval_id}, {timeout} s to answer): "
                         f"{_what(entry)}")
        try:
            self._bus.publish("approval", **entry.record, reason=None)
            for watcher in list(self._watchers):
                try:
                    watcher({**entry.record, "action": action, "tool": tool,
                             "input": entry.tool_input})
                except Exception:  # a relay's trouble must not lose the request
                    log.exception("an approval watcher failed")
            if entry.state == "pending":
                entry.announcing = asyncio.create_task(
                    self._announce(entry, settings.assistant_name))
            left = deadline - self._clock.monotonic()
            if entry.state == "pending" and not await self._clock.wait(entry.answered, left):
                self._close(entry, "expired", f"no answer within {timeout} s")
        finally:
            if entry.state == "pending":  # the turn was cancelled (engine stop) mid-wait
                self._close(entry, "denied", "the request was cancelled")
        return ApprovalDecision(entry.state == "allowed", entry.reason, approval_id)

    async def _announce(self, entry: _Request, assistant_name: str) -> None:
        body, kind = notification_text(entry.record["command"], entry.record["cwd"])
        notification = Notification(f"{assistant_name} wants to {entry.action}", body,
                                    kind=kind, ref=entry.record["id"], urgent=True)
        try:
            shown = await self._notify(notification)
        except Exception as exc:  # the panel still shows the request
            log.exception("approval notification failed")
            shown = False
            self._log.append("error", f"approval notification failed: {exc}")
        if not shown and entry.state == "pending":
            self._log.append("approval", f"no notification shown for {entry.record['id']}; "
                             "it waits for an answer in the panel or the CLI")

    def decide(self, approval_id: str, allow: bool, *, by: str) -> dict[str, Any]:
        """Allow or deny a pending request. `by` says where the answer came from: "panel",
        "notification", "cli" or "channel NAME". Returns the closed record (id, state,
        reason, ...)."""
        entry = self._pending.get(approval_id)
        if entry is None:
            closed = self._closed.get(approval_id)
            if closed is None:
                raise ApprovalNotFoundError(
                    f"There is no approval request {approval_id!r}: it never existed, or the "
                    "engine restarted since it was made (pending requests are kept in memory "
                    "only, and a restart denies them). The list of pending approvals shows the "
                    "ones you can still answer.")
            if closed.state == "expired":
                raise ApprovalClosedError(
                    f"Approval request {approval_id} expired at {closed.record['expiresAt']} "
                    f"({closed.reason}), so the command was denied and it is too late to answer. "
                    "Ask the assistant to run it again if you still want it.", state="expired")
            raise ApprovalClosedError(
                f"Approval request {approval_id} was already {closed.state} ({closed.reason}); "
                "a decision cannot be changed. Ask the assistant to run it again if needed.",
                state=closed.state)
        state: ApprovalState = "allowed" if allow else "denied"
        self._close(entry, state, f"{state} by the user ({by})")
        return self._public(entry)

    def pending(self) -> list[dict[str, Any]]:
        """Requests waiting for an answer, oldest first: {id, command, cwd, requestedAt,
        expiresAt, state: "pending"}."""
        return [dict(entry.record) for entry in self._pending.values()]

    def cancel_all(self, reason: str) -> None:
        """Deny every pending request with `reason` (engine stop), so no turn waits on them."""
        for entry in list(self._pending.values()):
            self._close(entry, "denied", reason)

    def _close(self, entry: _Request, state: ApprovalState, reason: str) -> None:
        approval_id = entry.record["id"]
        entry.record["state"] = state
        entry.reason = reason
        self._pending.pop(approval_id, None)
        self._closed[approval_id] = entry
        while len(self._closed) > CLOSED_KEPT:
            self._closed.popitem(last=False)
        # "allowed by the user (panel): ..." / "denied: no answer within 120 s: ..."
        prefix = "" if reason.startswith(("allowed", "denied")) else "denied: "
        self._log.append("approval", f"{prefix}{reason}: {_what(entry)} (id {approval_id})")
        announcing = entry.announcing
        if announcing is not None and not announcing.done() \
                and announcing is not asyncio.current_task():
            announcing.cancel()
            self._log.append("approval", f"the notification for {approval_id} was not sent, or "
                             "not answered by the notification server, yet; it was dropped")
        self._bus.publish("approval", **self._public(entry))
        entry.answered.set()

    @staticmethod
    def _public(entry: _Request) -> dict[str, Any]:
        return {**entry.record, "reason": entry.reason}


def _what(entry: _Request) -> str:
    return f"{entry.record['command']} in {entry.record['cwd']}"


def notification_text(command: str, cwd: str) -> tuple[str, str]:
    """(body, kind) of the notification asking to run `command` in `cwd`.

    The body is one line: line breaks shown as " ⏎ ", tabs and runs of whitespace as one space,
    control and invisible formatting characters (a bidi override, say) escaped, the command cut at
    BODY_LIMIT characters, then " — in <cwd>". Markup is the notifier's to escape. The kind is
    "approval", or "approval-review" when the line cannot show the command as it is (several
    lines, longer than BODY_LIMIT, invisible characters): that one is answered in the panel."""
    shown, altered = _one_line(command)
    place, place_altered = _one_line(cwd)
    review = altered or place_altered or len(command) > BODY_LIMIT or len(shown) > BODY_LIMIT
    if len(shown) > BODY_LIMIT:
        shown = (f"{shown[:BODY_LIMIT]}… (+{len(shown) - BODY_LIMIT} characters: review it in the "
                 "panel)")
    return f"{shown} — in {place}", "approval-review" if review else "approval"


def _one_line(text: str) -> tuple[str, bool]:
    """`text` on one line, and whether it held line breaks or invisible characters."""
    broken = LINE_BREAK.sub(" ⏎ ", text)
    visible = "".join(ascii(char)[1:-1] if _invisible(char) else char for char in broken)
    return re.sub(r"\s+", " ", visible).strip(), visible != text


def _invisible(char: str) -> bool:
    return char != "\t" and unicodedata.category(char) in ("Cc", "Cf")
