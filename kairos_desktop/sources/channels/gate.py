"""The gate every MCP tool call goes through, and Claude Code's permission relay.

Why apart from the manager: what may run (trust.py's decision, the user's approval) is a question
of trust, not of keeping processes alive; the manager asks the gate, the gate asks the approval
broker (approvals.py, the one RunCommand uses) and logs every decision with where it came from.

The relay: every approval request the broker opens (RunCommand's and the MCP tools') is also sent
to each running channel that declared `claude/channel/permission`, as Claude Code does, with a
five-letter id from Claude Code's alphabet (a-z without "l"); that channel's verdict
`notifications/claude/channel/permission` {request_id, behavior} answers the request, first answer
wins. A verdict for an id never sent to that server is dropped (logged), as Claude Code drops one
for an unknown id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...approvals import Approvals
from ...errors import KairosError
from ...journal import DailyLog
from ...settings import Settings
from ...tools.base import ToolResult
from .events import PermissionVerdict
from .session import call_remote, send_permission_request
from .state import RemoteTool, ServerState
from .trust import decide

log = logging.getLogger(__name__)

ID_ALPHABET = "abcdefghijkmnopqrstuvwxyz"  # Claude Code's: 25 letters, no "l" (reads as 1 or I)
ID_LENGTH = 5
PREVIEW_CHARS = 200  # Claude Code's input_preview is cut at 200 characters
RELAYED_KEPT = 200


def short_id(taken: Iterable[str] = ()) -> str:
    used = set(taken)
    while True:
        candidate = "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
        if candidate not in used:
            return candidate


def preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"


class ToolGate:
    """Decides, asks and logs for the channel servers' tool calls; relays approvals."""

    def __init__(self, *, approvals: Approvals | None, workspace: Path | None,
                 daily_log: DailyLog | None) -> None:
        self._approvals = approvals
        self._workspace = workspace
        self._log = daily_log
        # short id -> (approval id, the servers it was sent to)
        self._relayed: OrderedDict[str, tuple[str, set[str]]] = OrderedDict()
        self._sending: set[asyncio.Task[None]] = set()

    def roots(self, settings: Settings) -> list[Path]:
        folders = [Path(p).expanduser().resolve() for p in settings.allowed_folders]
        return ([self._workspace.resolve()] if self._workspace else []) + folders

    async def call(self, server: ServerState, tool: RemoteTool, arguments: dict[str, Any],
                   settings: Settings) -> ToolResult:
        """Run `tool` if the policy and, when asked, the user let it; else say why not."""
        name = tool.model_name
        verdict = decide(arguments, roots=self.roots(settings), mode=server.config.tools,
                         is_channel=server.is_channel)
        if verdict.decision == "refuse":
            self._note(f"{name} refused without asking: {verdict.reason} (server {server.name})")
            return ToolResult(f"{name} was not run: {verdict.reason}. Nothing was sent to "
                              f"{server.name}.", is_error=True)
        if verdict.decision == "allow":
            self._note(f"{name} allowed without asking: {verdict.reason} (server {server.name})")
        else:
            if self._approvals is None:
                self._note(f"{name} refused: it needs the user's approval ({verdict.reason}) "
                           "and there is no way to ask here")
                return ToolResult(f"{name} was not run: it needs the user's approval and none "
                                  "can be asked for here.", is_error=True)
            decision = await self._approvals.request(
                f"{name} {json.dumps(arguments, ensure_ascii=False)}",
                f"MCP server {server.name}", why=verdict.reason, action="use a tool",
                tool=name, tool_input=arguments)
            if not decision.allowed:
                return ToolResult(f"{name} was not run: {decision.reason}. Do not try to get "
                                  "around this with another tool.", is_error=True)
        session = server.session
        if session is None or server.state != "running":
            return ToolResult(f"Channel {server.name} is not connected right now (state: "
                              f"{server.state}); it is restarted automatically, so try again "
                              "later.", is_error=True)
        return await call_remote(session, tool, arguments)

    # -- the relay ---------------------------------------------------------------------------

    def relay(self, record: dict[str, Any], servers: Iterable[ServerState]) -> None:
        """Send a new approval request to every running relaying channel (no await: the
        broker calls this while it opens the request)."""
        targets = [s for s in servers
                   if s.relays_permission and s.state == "running" and s.session is not None]
        if not targets:
            return
        request_id = short_id(self._relayed)
        self._relayed[request_id] = (str(record["id"]), {s.name for s in targets})
        while len(self._relayed) > RELAYED_KEPT:
            self._relayed.popitem(last=False)
        tool = str(record.get("tool") or "RunCommand")
        why = f" ({record['why']})" if record.get("why") else ""
        params = {"request_id": request_id, "tool_name": tool,
                  "description": f"{tool}: {record.get('command', '')}{why}"[:1_000],
                  "input_preview": preview(record.get("input", {}))}
        for server in targets:
            session = server.session
            assert session is not None
            task = asyncio.get_running_loop().create_task(
                self._send(server.name, session, params), name=f"channel:{server.name}:relay")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        self._note(f"approval {record['id']} relayed as {request_id} to "
                   f"{', '.join(s.name for s in targets)}")

    async def _send(self, name: str, session: Any, params: dict[str, str]) -> None:
        try:
            await send_permission_request(session, params)
        except Exception as exc:  # the panel and the notification still ask
            log.warning("relaying approval %s to channel %s failed: %s",
                        params["request_id"], name, exc)

    def verdict(self, server: ServerState, verdict: PermissionVerdict) -> None:
        """A relaying channel's answer: decide the request it stands for."""
        request_id = verdict.request_id.strip().lower()
        entry = self._relayed.get(request_id)
        if entry is None or server.name not in entry[1]:
            log.warning("channel %s answered permission request %r, which it was never sent: "
                        "ignored", server.name, request_id)
            self._note(f"channel {server.name} answered an unknown permission request "
                       f"{request_id!r}: ignored")
            return
        if self._approvals is None:
            return
        try:
            self._approvals.decide(entry[0], verdict.behavior == "allow",
                                   by=f"channel {server.name}")
        except KairosError as exc:  # decided already (the panel was quicker), or expired
            self._note(f"channel {server.name}'s {verdict.behavior} for {request_id} came too "
                       f"late: {exc}")

    async def close(self) -> None:
        for task in list(self._sending):
            task.cancel()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _note(self, text: str) -> None:
        log.info("%s", text)
        if self._log is None:
            return
        try:
            self._log.append("approval", text)
        except OSError:
            log.exception("writing the daily log failed")

