"""Kairos: the library's front door, for notebooks and scripts.

Inside a running event loop (Jupyter): `k = Kairos(home=...); await k.start(); await k.send("hi")`.
From plain synchronous code: `k.start_in_thread()` runs the engine's loop in a daemon thread and
the same methods work through `k.call(...)`. The CLI is a thin layer over the same Engine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from .application import Application
from .clock import Clock
from .delivery.notifier import Notifier
from .home import Home
from .runtime import Engine

T = TypeVar("T")


class Kairos:
    def __init__(self, home: Path | str | None = None, *, clock: Clock | None = None,
                 notifier: Notifier | None = None, api_key: str | None = None,
                 base_url: str | None = None) -> None:
        self.engine = Engine(Home(home), clock=clock, notifier=notifier, api_key=api_key,
                             base_url=base_url)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- async use (inside a running loop) ---------------------------------------------------

    async def start(self, *, session_id: str | None = None, resume: bool = False,
                    control_api: bool = True) -> Kairos:
        await self.engine.start(session_id=session_id, resume=resume, control_api=control_api)
        return self

    @property
    def app(self) -> Application:
        """The application API: everything the tray and the panel can do and read."""
        return self.engine.app

    async def send(self, text: str) -> str:
        """Queue a message for the assistant; it wakes at once. Returns the item id."""
        return str(self.app.send(text)["id"])

    async def stop(self) -> None:
        await self.engine.stop()

    def messages(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.app.messages(limit)

    def inbox(self) -> list[dict[str, Any]]:
        return self.app.inbox()

    @property
    def status(self) -> dict[str, Any]:
        return self.app.status()

    @property
    def panel_url(self) -> str:
        """The panel page of this engine (it carries the run's token: keep it to yourself)."""
        return self.app.panel_address()

    def panel(self, height: int = 640) -> Any:
        """The panel as a notebook IFrame (IPython's); the page is live, like in the app. Its
        link works once, so a saved notebook holds no usable token."""
        from IPython.display import IFrame

        return IFrame(self.app.panel_link(), width="100%", height=height)

    async def __aenter__(self) -> Kairos:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- sync use (the engine's loop in a thread) --------------------------------------------

    def start_in_thread(self, *, session_id: str | None = None, resume: bool = False,
                        control_api: bool = True, timeout: float = 30.0) -> Kairos:
        if self._thread is not None:
            raise RuntimeError("this Kairos is already running in a thread")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(session_id=session_id, resume=resume,
                                                   control_api=control_api))
            except BaseException as exc:
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(None)
            loop.run_until_complete(self.engine.run_until_stopped())
            loop.close()

        self._thread = threading.Thread(target=main, name="kairos-engine", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout)
        except BaseException:
            self._thread = None
            raise
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the engine's thread and wait for its result."""
        if self._loop is None:
            raise RuntimeError("start_in_thread() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def send_sync(self, text: str) -> str:
        return self.call(self.send(text))

    def stop_in_thread(self, timeout: float = 30.0) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self.app.request_stop)
        self._thread.join(timeout)
        self._thread = None
        self._loop = None
