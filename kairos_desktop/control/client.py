"""The control API client: the CLI and notebooks use it to talk to a running instance.

Standard library only (urllib), so a CLI call starts fast. A control.json left by a crashed
instance is detected (the connection is refused) and reported as "not running".
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..errors import ControlAPIError, NotRunningError
from ..home import Home
from . import TOKEN_HEADER


class ControlClient:
    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def for_home(cls, home: Home) -> ControlClient:
        """A client for the instance running on `home`; NotRunningError when there is none."""
        info = home.read_control()
        if not info:
            raise NotRunningError(f"no kairos instance is running for {home.root}")
        client = cls(f"http://{info.get('host', '127.0.0.1')}:{info['port']}", info["token"])
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
            error = ControlAPIError(payload.get("error") or f"HTTP {exc.code}")
            error.status = exc.code  # type: ignore[attr-defined]
            error.payload = payload  # type: ignore[attr-defined]
            raise error from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise NotRunningError(
                f"cannot reach the running instance at {self.url}: {exc}") from None

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/api/status")

    def send(self, text: str) -> dict[str, Any]:
        return self.request("POST", "/api/send", {"text": text})

    def messages(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/messages?limit={limit}")

    def inbox(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/inbox")

    def settings(self) -> dict[str, Any]:
        return self.request("GET", "/api/settings")

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", "/api/settings", changes)

    def tasks(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/tasks")

    def add_task(self, cron: str, prompt: str, *, recurring: bool, durable: bool
                 ) -> dict[str, Any]:
        return self.request("POST", "/api/tasks", {"cron": cron, "prompt": prompt,
                                                   "recurring": recurring, "durable": durable})

    def delete_task(self, task_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/api/tasks/{urllib.parse.quote(task_id, safe='')}")

    def subscriptions(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/subscriptions")

    def dream(self) -> dict[str, Any]:
        return self.request("GET", "/api/dream")

    def start_dream(self, *, force: bool, allow_large_delete: bool) -> dict[str, Any]:
        try:
            return self.request("POST", "/api/dream", {"force": force,
                                                       "allowLargeDelete": allow_large_delete})
        except ControlAPIError as exc:
            payload = getattr(exc, "payload", {})
            if "started" in payload:
                return payload
            raise

    def undo_dream(self) -> dict[str, Any]:
        return self.request("POST", "/api/dream/undo")

    def show(self) -> None:
        self.request("POST", "/api/show")

    def pause(self) -> None:
        self.request("POST", "/api/pause")

    def resume(self) -> None:
        self.request("POST", "/api/resume")

    def wake(self) -> None:
        self.request("POST", "/api/wake")

    def stop(self) -> None:
        self.request("POST", "/api/stop")
