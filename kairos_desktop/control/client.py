"""The control API client: the running app as a `Connection` (application.py).

The CLI holds either this or the home's files (offline.py), and calls the same methods on
both: same names, arguments and return shapes as HomeApp's, and the same error classes. An
error answer comes back as the application's own error (404 NotFoundError, 409 ConflictError,
410 GoneError, 400 SettingsError / ApiKeyError / InputError naming the field), so a command
handles errors one way whichever side it talks to; each is also a ControlAPIError carrying the
HTTP `status` and `payload`.

Standard library only (urllib), so a CLI call starts fast. "Not running" and "not answering" are
told apart: no run/control.json (or one whose process is gone), or a refused connection, is
NotRunningError (the CLI then works on the home's files); a connection that was taken but not
answered in time (the app is busy: a notebook cell holding the loop that serves the API, say) is
NotAnsweringError, naming the pid, and nothing falls back to the files under the running app.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from typing import Any

from ..errors import (
    ApiKeyError,
    ConflictError,
    ControlAPIError,
    GoneError,
    InputError,
    KairosError,
    NotAnsweringError,
    NotFoundError,
    NotRunningError,
    SettingsError,
)
from ..home import Home
from ..scheduler.task import CatchUp
from . import TOKEN_HEADER

JSON = dict[str, Any]


# The application's errors as the running app answered them: catch either class.
class RemoteNotFoundError(NotFoundError, ControlAPIError):
    pass


class RemoteConflictError(ConflictError, ControlAPIError):
    pass


class RemoteGoneError(GoneError, ControlAPIError):
    pass


class RemoteInputError(InputError, ControlAPIError):
    pass


class RemoteSettingsError(SettingsError, ControlAPIError):
    pass


class RemoteApiKeyError(ApiKeyError, ControlAPIError):
    pass


def _error_of(method: str, path: str, status: int, payload: JSON) -> KairosError:
    """The application error an answer stands for."""
    message = str(payload.get("error") or f"HTTP {status}")
    error: KairosError
    if status == 400:
        key = payload.get("key")
        if path == "/api/key":
            error = RemoteApiKeyError(message)
        elif path == "/api/settings" and method == "PATCH":
            error = RemoteSettingsError(message, key=key)
        else:  # a field of the request (key) or its value as a whole (a cron, the task limit)
            error = RemoteInputError(message, key=key)
    elif status == 404:
        error = RemoteNotFoundError(message)
    elif status == 409:
        error = RemoteConflictError(message)
    elif status == 410:
        error = RemoteGoneError(message)
    else:  # 401/403 (a wrong token, a foreign Host) and the unexpected
        error = ControlAPIError(message)
    error.status = status  # type: ignore[attr-defined]
    error.payload = payload  # type: ignore[attr-defined]
    return error


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _day_query(day: date | None, **extra: str) -> str:
    params = {"date": day.isoformat()} if day is not None else {}
    params.update({k: v for k, v in extra.items() if v})
    return f"?{urllib.parse.urlencode(params)}" if params else ""


class ControlClient:
    """The running app of one home, over its control API."""

    running = True
    #: Seconds an answer may take before the app counts as not answering.
    default_timeout = 10.0

    def __init__(self, url: str, token: str, *, timeout: float | None = None,
                 pid: int | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = self.default_timeout if timeout is None else timeout
        self.pid = pid  # the running app's process (from run/control.json), for messages

    @classmethod
    def for_home(cls, home: Home, *, timeout: float | None = None) -> ControlClient:
        """A client for the instance running on `home`; NotRunningError when there is none,
        NotAnsweringError when it runs but does not answer within `timeout` seconds."""
        info = home.read_control()
        if not info:
            raise NotRunningError(f"no kairos instance is running for {home.root}")
        pid = info.get("pid")
        client = cls(f"http://{info.get('host', '127.0.0.1')}:{info['port']}", info["token"],
                     timeout=timeout, pid=pid if isinstance(pid, int) else None)
        try:
            client.request("GET", "/api/status")
        except NotRunningError:
            raise NotRunningError(
                f"no kairos instance is running for {home.root} (stale run/control.json)"
            ) from None
        return client

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            TOKEN_HEADER: self.token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"{}")
            except json.JSONDecodeError:
                payload = {}
            if not isinstance(payload, dict):
                payload = {}
            raise _error_of(method, path.split("?", 1)[0], exc.code, payload) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError):
                raise self._not_answering() from None
            raise NotRunningError(
                f"cannot reach the running instance at {self.url}: {reason}") from None

    def _not_answering(self) -> NotAnsweringError:
        who = f"pid {self.pid}" if self.pid is not None else f"at {self.url}"
        return NotAnsweringError(
            f"kairos is running ({who}) but did not answer within {self.timeout:g} s: it is "
            "busy or stuck (in a notebook, a cell that blocks the kernel's loop holds the app "
            "too). Try again once it is free"
            + (f", or stop it (kill {self.pid})." if self.pid is not None else "."))

    # -- reads -------------------------------------------------------------------------------

    def status(self) -> JSON:
        return self.request("GET", "/api/status")

    def messages(self, limit: int = 50) -> list[JSON]:
        return self.request("GET", f"/api/messages?limit={int(limit)}")

    def message_history(self, after: str | None = None, limit: int = 500) -> JSON:
        query = f"?limit={int(limit)}" + (f"&after={_quote(after)}" if after else "")
        return self.request("GET", f"/api/messages/history{query}")

    def inbox(self) -> list[JSON]:
        return self.request("GET", "/api/inbox")

    def tasks(self) -> list[JSON]:
        return self.request("GET", "/api/tasks")

    def describe_cron(self, expr: str) -> JSON:
        return self.request("GET", f"/api/cron/describe?cron={_quote(expr)}")

    def log(self, day: date | None = None, query: str = "") -> JSON:
        return self.request("GET", "/api/log" + _day_query(day, q=query))

    def log_text(self, day: date | None = None, *, raw: bool = False) -> str:
        answer = self.request("GET", "/api/log/text" + _day_query(day, raw="1" if raw else ""))
        return str(answer["text"])

    def verify_logs(self, day: date | None = None) -> list[JSON]:
        return self.request("GET", "/api/logs/verify" + _day_query(day))

    def usage(self) -> list[JSON]:
        return self.request("GET", "/api/usage")

    def usage_turns(self, day: date | None = None) -> list[JSON]:
        query = f"?date={day.isoformat()}" if day else ""
        return self.request("GET", f"/api/usage/turns{query}")

    def budget(self) -> JSON:
        return self.request("GET", "/api/budget")

    def settings_view(self) -> JSON:
        return self.request("GET", "/api/settings")

    def settings_schema(self) -> JSON:
        return self.request("GET", "/api/settings/schema")

    def subscriptions(self) -> list[JSON]:
        return self.request("GET", "/api/subscriptions")

    def dream(self) -> JSON:
        return self.request("GET", "/api/dream")

    def approvals(self) -> list[JSON]:
        return self.request("GET", "/api/approvals")

    def plugins(self) -> list[JSON]:
        return self.request("GET", "/api/plugins")

    def queued(self) -> list[JSON]:
        return self.request("GET", "/api/queue")

    def held(self) -> list[JSON]:
        return self.request("GET", "/api/held")

    # -- actions -----------------------------------------------------------------------------

    def send(self, text: str) -> JSON:
        return self.request("POST", "/api/send", {"text": text})

    def add_task(self, cron: str, prompt: str, *, recurring: bool, durable: bool,
                 catch_up: CatchUp = "once") -> JSON:
        return self.request("POST", "/api/tasks", {"cron": cron, "prompt": prompt,
                                                   "recurring": recurring, "durable": durable,
                                                   "catchUp": catch_up})

    def raise_budget(self, cap_usd: float) -> JSON:
        return self.request("POST", "/api/budget/raise", {"capUsd": cap_usd})

    def delete_task(self, task_id: str) -> JSON:
        return self.request("DELETE", f"/api/tasks/{_quote(task_id)}")

    def mark_inbox_read(self, item_id: str) -> None:
        self.request("POST", f"/api/inbox/{_quote(item_id)}/read")

    def mark_message_read(self, message_id: str) -> None:
        self.request("POST", f"/api/messages/{_quote(message_id)}/read")

    def update_settings(self, changes: JSON) -> JSON:
        answer: JSON = self.request("PATCH", "/api/settings", changes)["settings"]
        return answer

    def undo_dream(self) -> str:
        return str(self.request("POST", "/api/dream/undo")["undone"])

    def retry_held(self, item_id: str) -> JSON:
        return self.request("POST", f"/api/held/{_quote(item_id)}/retry")

    def drop_held(self, item_id: str) -> JSON:
        return self.request("DELETE", f"/api/held/{_quote(item_id)}")

    def add_plugin(self, path: str, *, allow: bool = False) -> JSON:
        return self.request("POST", "/api/plugins", {"path": path, "allow": allow})

    def remove_plugin(self, name: str) -> JSON:
        return self.request("DELETE", f"/api/plugins/{_quote(name)}")

    def allow_server(self, name: str, allowed: bool = True) -> JSON:
        return self.request("POST", f"/api/plugins/{_quote(name)}/allow", {"allowed": allowed})

    def wake(self) -> None:
        self.request("POST", "/api/wake")

    def pause(self) -> None:
        self.request("POST", "/api/pause")

    def resume(self) -> None:
        self.request("POST", "/api/resume")

    def request_stop(self) -> None:
        self.request("POST", "/api/stop")

    stop = request_stop  # the older name (benches, the tray's tests)

    def start_dream(self, *, force: bool = False, allow_large_delete: bool = False) -> JSON:
        try:
            return self.request("POST", "/api/dream", {"force": force,
                                                       "allowLargeDelete": allow_large_delete})
        except ControlAPIError as exc:  # 409 {"started": false, "reason": ...}: the gates said no
            payload = getattr(exc, "payload", {})
            if "started" in payload:
                return payload
            raise

    def decide_approval(self, approval_id: str, allow: bool, *, by: str) -> JSON:
        return self.request("POST", f"/api/approvals/{_quote(approval_id)}",
                            {"decision": "allow" if allow else "deny", "by": by})

    def set_api_key(self, key: str) -> JSON:
        return self.request("PUT", "/api/key", {"key": key})["apiKey"]

    def clear_api_key(self) -> JSON:
        return self.request("DELETE", "/api/key")["apiKey"]

    def panel_link(self) -> str:
        """A single-use link to the panel (a browser's command line is readable by others)."""
        return f"{self.url}/?code={self.request('POST', '/api/panel/code')['code']}"

    def show(self) -> None:
        self.request("POST", "/api/show")
