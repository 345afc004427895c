"""The control API server: loopback only, a random port, a random token per run.

The token is written with the port in run/control.json (mode 0600), so only the user's own
processes can read it. Every request must carry it; a request whose Host header is not this
server's loopback address is refused (DNS rebinding); no CORS headers are ever sent, so a web page
in a browser cannot read any answer, and a request that says it comes from another origin is
refused before it does anything.

The panel page is served here too: `/` and `/ui/*` are static files that hold no data and need
no token; the page gets its token from the address it was opened with and drops it from the
address bar at once. A browser is opened on `/?code=...`, a single-use code the page trades for
the token (POST /api/panel/session), because a browser's command line is readable by other
local users and its history outlives the run. The token may ride in the query string only on
GETs (EventSource cannot set headers). Every answer carries a CSP that allows only this
origin's scripts, styles and connections, and no referrer, so the token never leaves in a
Referer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..atomic import atomic_write_text
from ..errors import (
    ApiKeyError,
    ConflictError,
    GoneError,
    InputError,
    InvalidCronError,
    KairosError,
    NotFoundError,
    NotRunningError,
    SettingsError,
    TaskLimitError,
)
from ..paths import shipped_dir
from . import TOKEN_HEADER

if TYPE_CHECKING:
    from ..application import Application
    from ..clock import Clock
    from ..home import Home

STREAM_PING_S = 15.0
# Only this origin's scripts, styles, images and connections; no inline script, no plugins.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'")
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}
CODE_TTL_S = 120.0  # a panel link's code: single use, and only this long


class ControlServer:
    def __init__(self, app: Application, home: Home, clock: Clock, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.app = app
        self._home = home
        self._clock = clock
        self.host = host
        self.port = port
        self.token = secrets.token_urlsafe(32)
        self._runner: web.AppRunner | None = None
        self._streams: set[asyncio.Task[Any]] = set()  # handlers of open /api/events
        self._codes: dict[str, float] = {}  # single-use panel codes -> monotonic expiry

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._guard], client_max_size=1 << 20)
        routes = [
            web.get("/", self._page),
            web.get("/ui/{name}", self._static),
            web.put("/api/key", self._key_set),
            web.delete("/api/key", self._key_clear),
            web.put("/api/github-token", self._github_token_set),
            web.delete("/api/github-token", self._github_token_clear),
            web.get("/api/chat", self._chat),
            web.get("/api/transcript", self._transcript),
            web.post("/api/inbox/{item_id}/open", self._inbox_open),
            web.post("/api/inbox/{item_id}/reveal", self._inbox_reveal),
            web.post("/api/messages/{message_id}/read", self._message_read),
            web.get("/api/cron/describe", self._cron_describe),
            web.get("/api/log", self._log),
            web.get("/api/log/text", self._log_text),
            web.get("/api/logs/verify", self._logs_verify),
            web.get("/api/memory", self._memory),
            web.get("/api/approvals", self._approvals),
            web.post("/api/approvals/{approval_id}", self._approval_decide),
            web.post("/api/presence", self._presence),
            web.post("/api/panel/ready", self._panel_ready),
            web.post("/api/panel/code", self._panel_code),
            web.post("/api/panel/session", self._panel_session),
            web.get("/api/status", self._status),
            web.post("/api/send", self._send),
            web.get("/api/queue", self._queue),
            web.get("/api/held", self._held),
            web.post("/api/held/{item_id}/retry", self._held_retry),
            web.delete("/api/held/{item_id}", self._held_drop),
            web.get("/api/messages", self._messages),
            web.get("/api/messages/history", self._message_history),
            web.get("/api/inbox", self._inbox),
            web.post("/api/inbox/{item_id}/read", self._inbox_read),
            web.get("/api/settings", self._settings),
            web.get("/api/settings/schema", self._settings_schema),
            web.patch("/api/settings", self._settings_patch),
            web.get("/api/usage", self._usage),
            web.get("/api/usage/turns", self._usage_turns),
            web.get("/api/budget", self._budget),
            web.post("/api/budget/raise", self._budget_raise),
            web.post("/api/wake", self._wake),
            web.post("/api/stop", self._stop),
            web.post("/api/pause", self._pause),
            web.post("/api/resume", self._resume),
            web.post("/api/show", self._show),
            web.get("/api/events", self._events),
            web.get("/api/tasks", self._tasks),
            web.post("/api/tasks", self._task_add),
            web.delete("/api/tasks/{task_id}", self._task_delete),
            web.get("/api/subscriptions", self._subscriptions),
            web.get("/api/plugins", self._plugins),
            web.post("/api/plugins", self._plugin_add),
            web.delete("/api/plugins/{name}", self._plugin_remove),
            web.post("/api/plugins/{name}/allow", self._plugin_allow),
            web.get("/api/dream", self._dream),
            web.post("/api/dream", self._dream_start),
            web.post("/api/dream/undo", self._dream_undo),
        ]
        app.add_routes(routes)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        home = self._home
        atomic_write_text(home.control_file, json.dumps({
            "pid": os.getpid(), "port": self.port, "token": self.token, "host": self.host,
            "home": str(home.root), "startedAt": self._clock.now().isoformat(),
        }), mode=0o600)

    async def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            control = self._home.read_control()
            if control and control.get("token") == self.token:
                self._home.control_file.unlink()
        # An open page's stream would otherwise hold the shutdown for aiohttp's 60 s grace.
        for stream in list(self._streams):
            stream.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- guard -------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await self._checked(request, handler)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    async def _checked(self, request: web.Request, handler: Any) -> web.StreamResponse:
        allowed_hosts = {f"{self.host}:{self.port}", f"localhost:{self.port}"}
        if request.host not in allowed_hosts:
            return _error(403, f"Host {request.host!r} is not allowed; use {self.url}")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in allowed_hosts}:
            return _error(403, "cross-origin requests are not allowed")
        if request.path == "/" or request.path.startswith("/ui/") \
                or request.path == "/api/panel/session":
            return await handler(request)
        supplied = request.headers.get(TOKEN_HEADER, "")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            supplied = supplied or auth[7:]
        if not supplied and request.method == "GET":
            supplied = request.query.get("token", "")
        if not secrets.compare_digest(supplied.encode(), self.token.encode()):
            return _error(401, "missing or wrong control token (see run/control.json)")
        try:
            return await handler(request)
        except (SettingsError, InputError, ApiKeyError) as exc:  # the field is named
            key = getattr(exc, "key", None) or ("apiKey" if isinstance(exc, ApiKeyError) else None)
            return web.json_response({"error": str(exc), "key": key}, status=400)
        except KairosError as exc:
            return _error(_status_of(exc), str(exc))

    # -- the page ----------------------------------------------------------------------------

    async def _page(self, _: web.Request) -> web.StreamResponse:
        return await self._static_file("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        return await self._static_file(request.match_info["name"])

    async def _static_file(self, name: str) -> web.StreamResponse:
        path = _page_file(name)
        try:
            body = path.read_bytes() if path is not None else None
        except OSError:  # gone since it was listed
            body = None
        if path is None or body is None:
            shown = name if len(name) <= 80 else name[:77] + "..."
            return _error(404, f"no such file: /ui/{shown}")
        return web.Response(body=body, content_type=STATIC_TYPES[path.suffix],
                            headers={"Cache-Control": "no-cache"})

    # -- handlers: each one reads the request, calls the application API, answers ------------

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.status())

    async def _send(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _error(400, 'send needs a JSON body like {"text": "..."}')
        return web.json_response(self.app.send(text))

    async def _messages(self, request: web.Request) -> web.Response:
        return web.json_response(self.app.messages(_int_param(request, "limit", 50)))

    async def _message_history(self, request: web.Request) -> web.Response:
        """?after=<the previous page's "next">&limit=N: every message, oldest first."""
        raw = request.query.get("limit", "500")
        try:
            limit = int(raw)
        except ValueError:
            raise InputError(f"limit must be a whole number, not {raw!r}", key="limit") from None
        return web.json_response(self.app.message_history(request.query.get("after") or None,
                                                          limit))

    async def _inbox(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.inbox())

    async def _inbox_read(self, request: web.Request) -> web.Response:
        self.app.mark_inbox_read(request.match_info["item_id"])
        return web.json_response({"ok": True})

    async def _settings(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.settings_view())

    async def _settings_schema(self, _: web.Request) -> web.Response:
        """The settings' JSON Schema (camelCase keys): the panel builds its form from it."""
        return web.json_response(self.app.settings_schema())

    async def _settings_patch(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not body:
            return _error(400, 'PATCH /api/settings needs a JSON object like {"key": value}')
        return web.json_response({"settings": self.app.update_settings(body)})

    async def _usage(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.usage())

    async def _usage_turns(self, request: web.Request) -> web.Response:
        raw = request.query.get("date")
        try:
            day = date.fromisoformat(raw) if raw else None
        except ValueError:
            return _error(400, f"date {raw!r} is not a day like 2026-11-22")
        return web.json_response(self.app.usage_turns(day))

    async def _budget(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.budget())

    async def _budget_raise(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or "capUsd" not in body:
            return _error(400, 'POST /api/budget/raise needs {"capUsd": 2.5}: today\'s new '
                          "budget in US dollars")
        return web.json_response(self.app.raise_budget(body["capUsd"]))

    async def _wake(self, _: web.Request) -> web.Response:
        self.app.wake()
        return web.json_response({"ok": True})

    async def _pause(self, _: web.Request) -> web.Response:
        self.app.pause()
        return web.json_response({"paused": True})

    async def _resume(self, _: web.Request) -> web.Response:
        self.app.resume()
        return web.json_response({"paused": False})

    async def _show(self, _: web.Request) -> web.Response:
        """A second launch asks the running app to show itself."""
        self.app.show()
        return web.json_response({"shown": True})

    async def _stop(self, _: web.Request) -> web.Response:
        self.app.request_stop()
        return web.json_response({"ok": True, "stopping": True})

    async def _tasks(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.tasks())

    async def _task_add(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _error(400, 'POST /api/tasks needs {"cron": "...", "prompt": "...", '
                          '"recurring": true|false, "durable": true|false, '
                          '"catchUp": "once"|"skip"}')
        task = self.app.add_task(body.get("cron"), body.get("prompt"),  # type: ignore[arg-type]
                                 recurring=body.get("recurring", False),
                                 durable=body.get("durable", True),
                                 catch_up=body.get("catchUp", "once"))
        return web.json_response(task, status=201)

    async def _task_delete(self, request: web.Request) -> web.Response:
        return web.json_response(self.app.delete_task(request.match_info["task_id"]))

    async def _subscriptions(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.subscriptions())

    async def _dream(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.dream())

    async def _dream_start(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        body = body if isinstance(body, dict) else {}
        result = self.app.start_dream(force=body.get("force") is True,
                                      allow_large_delete=body.get("allowLargeDelete") is True)
        return web.json_response(result, status=202 if result["started"] else 409)

    async def _dream_undo(self, _: web.Request) -> web.Response:
        return web.json_response({"undone": self.app.undo_dream()})

    # -- panel ---------------------------------------------------------------------------------

    async def _key_set(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(key, str):
            return web.json_response({"error": 'PUT /api/key needs {"key": "sk-ant-..."}',
                                      "key": "apiKey"}, status=400)
        return web.json_response({"apiKey": await self.app.set_api_key(key)})

    async def _key_clear(self, _: web.Request) -> web.Response:
        return web.json_response({"apiKey": await self.app.clear_api_key()})

    async def _github_token_set(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            return web.json_response({"error": 'PUT /api/github-token needs {"token": "..."}',
                                      "key": "githubToken"}, status=400)
        return web.json_response({"githubToken": await self.app.set_github_token(token)})

    async def _github_token_clear(self, _: web.Request) -> web.Response:
        return web.json_response({"githubToken": await self.app.clear_github_token()})

    async def _chat(self, request: web.Request) -> web.Response:
        """?before=<the oldest shown item's at or createdAt>: the page above it."""
        return web.json_response(self.app.chat(_int_param(request, "limit", 100),
                                               request.query.get("before") or None))

    async def _transcript(self, request: web.Request) -> web.Response:
        return web.json_response(self.app.transcript(_int_param(request, "limit", 30)))

    async def _inbox_open(self, request: web.Request) -> web.Response:
        self.app.open_inbox_item(request.match_info["item_id"])
        return web.json_response({"ok": True})

    async def _inbox_reveal(self, request: web.Request) -> web.Response:
        self.app.reveal_inbox_item(request.match_info["item_id"])
        return web.json_response({"ok": True})

    async def _message_read(self, request: web.Request) -> web.Response:
        self.app.mark_message_read(request.match_info["message_id"])
        return web.json_response({"ok": True})

    async def _cron_describe(self, request: web.Request) -> web.Response:
        return web.json_response(self.app.describe_cron(request.query.get("cron", "")))

    async def _log(self, request: web.Request) -> web.Response:
        raw = request.query.get("date")
        try:
            day = date.fromisoformat(raw) if raw else None
        except ValueError:
            return _error(400, f"date {raw!r} is not a day like 2026-11-22")
        return web.json_response(self.app.log(day, request.query.get("q", "")))

    async def _log_text(self, request: web.Request) -> web.Response:
        raw = request.query.get("date")
        try:
            day = date.fromisoformat(raw) if raw else None
        except ValueError:
            return _error(400, f"date {raw!r} is not a day like 2026-11-22")
        text = self.app.log_text(day, raw=request.query.get("raw") == "1")
        return web.json_response({"text": text})

    async def _logs_verify(self, request: web.Request) -> web.Response:
        raw = request.query.get("date")
        try:
            day = date.fromisoformat(raw) if raw else None
        except ValueError:
            return _error(400, f"date {raw!r} is not a day like 2026-11-22")
        return web.json_response(self.app.verify_logs(day))

    async def _memory(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.memory())

    async def _queue(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.queued())

    async def _held(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.held())

    async def _held_retry(self, request: web.Request) -> web.Response:
        return web.json_response(self.app.retry_held(request.match_info["item_id"]))

    async def _held_drop(self, request: web.Request) -> web.Response:
        return web.json_response(self.app.drop_held(request.match_info["item_id"]))

    async def _plugins(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.plugins())

    async def _plugin_add(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("path"), str):
            return _error(400, 'POST /api/plugins needs {"path": "...", "allow": false}')
        return web.json_response(self.app.add_plugin(body["path"],
                                                     allow=body.get("allow", False)))

    async def _plugin_remove(self, request: web.Request) -> web.Response:
        return web.json_response(self.app.remove_plugin(request.match_info["name"]))

    async def _plugin_allow(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        allowed = body.get("allowed", True) if isinstance(body, dict) else True
        return web.json_response(self.app.allow_server(request.match_info["name"], allowed))

    async def _approvals(self, _: web.Request) -> web.Response:
        return web.json_response(self.app.approvals())

    async def _approval_decide(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        decision = body.get("decision") if isinstance(body, dict) else None
        if decision not in ("allow", "deny"):
            return _error(400, 'POST /api/approvals/{id} needs {"decision": "allow" | "deny"}')
        by = body.get("by") if body.get("by") in ("panel", "cli", "notebook") else "panel"
        return web.json_response(self.app.decide_approval(
            request.match_info["approval_id"], decision == "allow", by=by))

    async def _presence(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        self.app.set_panel_focused(isinstance(body, dict) and body.get("focused") is True)
        return web.json_response({"ok": True})

    async def _panel_ready(self, _: web.Request) -> web.Response:
        self.app.panel_ready()
        return web.json_response({"ok": True})

    def issue_code(self) -> str:
        """A single-use code for a panel link, traded for the token by the page."""
        now = time.monotonic()
        self._codes = {c: t for c, t in self._codes.items() if t > now}
        code = secrets.token_urlsafe(24)
        self._codes[code] = now + CODE_TTL_S
        return code

    def panel_link(self) -> str:
        return f"{self.url}/?code={self.issue_code()}"

    async def _panel_code(self, _: web.Request) -> web.Response:
        return web.json_response({"code": self.issue_code(), "expiresInSeconds": CODE_TTL_S})

    async def _panel_session(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        code = body.get("code") if isinstance(body, dict) else None
        expires = self._codes.pop(code, 0.0) if isinstance(code, str) else 0.0
        if expires <= time.monotonic():
            return _error(401, "this panel link was used already or has expired; open the "
                          "panel from the tray, or run `kairos panel` for a new link")
        return web.json_response({"token": self.token})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)

        def forward(event: Any) -> None:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(f"event: {event.kind}\ndata: {json.dumps(event.data)}\n\n")

        unsubscribe = self.app.subscribe(forward)
        this = asyncio.current_task()
        assert this is not None
        self._streams.add(this)
        try:
            await response.write(b": connected\n\n")
            while True:
                # A comment line every so often finds a page that went away (aiohttp does not
                # cancel a handler whose client left) while no event is due for an hour.
                try:
                    chunk = await asyncio.wait_for(queue.get(), STREAM_PING_S)
                except TimeoutError:
                    chunk = ": ping\n\n"
                await response.write(chunk.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
            self._streams.discard(this)
            if not self._streams:  # no page is open any more, so none has the focus
                self.app.set_panel_focused(False)
        return response


def ui_dir() -> Path | None:
    """The page's folder: $KAIROS_UI, a PyInstaller bundle's ui/, or the checkout's ui/."""
    return shipped_dir("ui", env="KAIROS_UI", marker="index.html")


def _page_file(name: str) -> Path | None:
    """The page's file called `name`, or None. `name` is only ever compared with the names the
    folder lists (regular files of a served type): never joined to a path, so a NUL, "..", a
    slash, a very long name or one the file system refuses is simply no such file."""
    folder = ui_dir()
    if folder is None:
        return None
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name == name and Path(name).suffix in STATIC_TYPES \
                        and entry.is_file():
                    return folder / entry.name
    except OSError:
        return None
    return None


def _status_of(exc: KairosError) -> int:
    """The HTTP status of an error of the application API."""
    for kind, status in ((NotFoundError, 404), (GoneError, 410), (ConflictError, 409),
                         (InvalidCronError, 400), (TaskLimitError, 400),
                         (NotRunningError, 409)):
        if isinstance(exc, kind):
            return status
    return 409


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _int_param(request: web.Request, name: str, default: int) -> int:
    try:
        return max(1, min(1000, int(request.query.get(name, default))))
    except ValueError:
        return default
