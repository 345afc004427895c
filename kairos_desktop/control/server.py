"""The control API server: loopback only, a random port, a random token per run.

The token is written with the port in run/control.json (mode 0600), so only the user's own
processes can read it. Every request must carry it; a request whose Host header is not this
server's loopback address is refused (DNS rebinding); no CORS headers are ever sent, so a web page
in a browser cannot read any answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..atomic import atomic_write_text
from ..errors import InvalidCronError, KairosError, SettingsError, TaskLimitError
from . import TOKEN_HEADER

if TYPE_CHECKING:
    from ..runtime import Engine



class ControlServer:
    def __init__(self, engine: Engine, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self.token = secrets.token_urlsafe(32)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._guard], client_max_size=1 << 20)
        routes = [
            web.get("/api/status", self._status),
            web.post("/api/send", self._send),
            web.get("/api/messages", self._messages),
            web.get("/api/inbox", self._inbox),
            web.post("/api/inbox/{item_id}/read", self._inbox_read),
            web.get("/api/settings", self._settings),
            web.patch("/api/settings", self._settings_patch),
            web.get("/api/usage", self._usage),
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
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        home = self.engine.home
        atomic_write_text(home.control_file, json.dumps({
            "pid": os.getpid(), "port": self.port, "token": self.token, "host": self.host,
            "home": str(home.root), "startedAt": self.engine.clock.now().isoformat(),
        }), mode=0o600)

    async def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            control = self.engine.home.read_control()
            if control and control.get("token") == self.token:
                self.engine.home.control_file.unlink()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- guard -------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        allowed_hosts = {f"{self.host}:{self.port}", f"localhost:{self.port}"}
        if request.host not in allowed_hosts:
            return _error(403, f"Host {request.host!r} is not allowed; use {self.url}")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in allowed_hosts}:
            return _error(403, "cross-origin requests are not allowed")
        supplied = request.headers.get(TOKEN_HEADER, "")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            supplied = supplied or auth[7:]
        if not secrets.compare_digest(supplied.encode(), self.token.encode()):
            return _error(401, "missing or wrong control token (see run/control.json)")
        return await handler(request)

    # -- handlers ----------------------------------------------------------------------------

    async def _status(self, _: web.Request) -> web.Response:
        return web.json_response(self.engine.status_dict())

    async def _send(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _error(400, 'send needs a JSON body like {"text": "..."}')
        item = self.engine.send(text.strip())
        return web.json_response({"id": item.id, "queued": True, "delivered": "running"})

    async def _messages(self, request: web.Request) -> web.Response:
        limit = _int_param(request, "limit", 50)
        return web.json_response(self.engine.outbox.recent(limit))

    async def _inbox(self, _: web.Request) -> web.Response:
        return web.json_response(self.engine.inbox.items())

    async def _inbox_read(self, request: web.Request) -> web.Response:
        if not self.engine.inbox.mark_read(request.match_info["item_id"]):
            return _error(404, "no inbox item with that id")
        return web.json_response({"ok": True})

    async def _settings(self, _: web.Request) -> web.Response:
        return web.json_response({"settings": self.engine.settings.to_json_dict(),
                                  "problems": self.engine.settings_problems})

    async def _settings_patch(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not body:
            return _error(400, 'PATCH /api/settings needs a JSON object like {"key": value}')
        try:
            settings = self.engine.update_settings(body)
        except SettingsError as exc:
            return web.json_response({"error": str(exc), "key": exc.key}, status=400)
        return web.json_response({"settings": settings.to_json_dict()})

    async def _usage(self, _: web.Request) -> web.Response:
        return web.json_response(self.engine.usage.days())

    async def _wake(self, _: web.Request) -> web.Response:
        self.engine.heartbeat.wake_now()
        return web.json_response({"ok": True})

    async def _pause(self, _: web.Request) -> web.Response:
        self.engine.pause()
        return web.json_response({"paused": True})

    async def _resume(self, _: web.Request) -> web.Response:
        self.engine.resume()
        return web.json_response({"paused": False})

    async def _show(self, _: web.Request) -> web.Response:
        """A second launch asks the running app to show itself."""
        if self.engine.on_show is None:
            return _error(409, "this instance runs headless: there is no window to show")
        self.engine.on_show()
        return web.json_response({"shown": True})

    async def _stop(self, _: web.Request) -> web.Response:
        self.engine.stop_requested.set()
        return web.json_response({"ok": True, "stopping": True})

    async def _tasks(self, _: web.Request) -> web.Response:
        return web.json_response([t.public() for t in self.engine.scheduler.tasks()])

    async def _task_add(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("cron"), str) \
                or not isinstance(body.get("prompt"), str):
            return _error(400, 'POST /api/tasks needs {"cron": "...", "prompt": "...", '
                          '"recurring": bool, "durable": bool}')
        try:
            task = self.engine.scheduler.create(
                body["cron"], body["prompt"], recurring=bool(body.get("recurring", False)),
                durable=bool(body.get("durable", True)))
        except (InvalidCronError, TaskLimitError) as exc:
            return _error(400, str(exc))
        return web.json_response(task.public(), status=201)

    async def _task_delete(self, request: web.Request) -> web.Response:
        try:
            task = self.engine.scheduler.delete(request.match_info["task_id"])
        except InvalidCronError as exc:
            return _error(404, str(exc))
        return web.json_response(task.public())

    async def _subscriptions(self, _: web.Request) -> web.Response:
        return web.json_response(self.engine.subscriptions.list())

    async def _dream(self, _: web.Request) -> web.Response:
        dream = self.engine.dream
        return web.json_response({"state": dream.state.to_dict(), "runs": dream.runs()})

    async def _dream_start(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        body = body if isinstance(body, dict) else {}
        gate = self.engine.dream.maybe_start(
            "requested", force=bool(body.get("force")),
            allow_large_delete=bool(body.get("allowLargeDelete")))
        return web.json_response({"started": gate.ok, "reason": gate.reason},
                                 status=202 if gate.ok else 409)

    async def _dream_undo(self, _: web.Request) -> web.Response:
        try:
            run_id = self.engine.dream.undo()
        except KairosError as exc:
            return _error(409, str(exc))
        return web.json_response({"undone": run_id})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)

        def forward(event: Any) -> None:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(f"event: {event.kind}\ndata: {json.dumps(event.data)}\n\n")

        unsubscribe = self.engine.bus.subscribe(forward)
        try:
            await response.write(b": connected\n\n")
            while True:
                await response.write((await queue.get()).encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
        return response


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
