"""The `kairos` command in this process, for tests: `Cli` calls kairos_desktop.cli.main and
captures what it prints; `RunningApp` is an engine on a thread of its own (Kairos.start_in_thread:
a CLI call blocks on urllib, so an engine on the test's own event loop could never answer it);
`RunCommand` is `kairos run --headless` in a thread."""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from kairos_desktop import Kairos
from kairos_desktop.cli import main
from kairos_desktop.control.client import ControlClient
from kairos_desktop.home import Home
from kairos_desktop.runtime import Engine
from tests.conftest import wait_for
from tests.fakes.anthropic_server import RecordedRequest, tool_use
from tests.waiting import wait_until

T = TypeVar("T")


def sleep_or_answer(request: RecordedRequest) -> Any:
    """The fake model: repeats what the user said, else sleeps for long."""
    text = request.last_user_text
    if "<message" in text and request.messages[-1]["content"][-1].get("type") == "text":
        said = text.split('<message from="user"', 1)[1].split(">", 1)[1].split("</message>")[0]
        return tool_use("SendUserMessage", {"message": f"you said: {said.strip()}",
                                            "status": "normal"})
    return tool_use("Sleep", {"seconds": 3000})


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    """`kairos --home HOME ...` in this process."""

    def __init__(self, home: Home, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = home
        self.capsys = capsys
        self._monkeypatch = monkeypatch

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        self.capsys.readouterr()  # what came before is not this command's
        if stdin is not None:
            self._monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = main(["--home", str(self.home.root), *args])
        except SystemExit as exc:  # argparse refusing the arguments
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return Result(code, out, err)


class RunningApp:
    """An engine of this test on its own thread; waits run on its loop."""

    def __init__(self, kairos: Kairos) -> None:
        self.kairos = kairos

    @property
    def engine(self) -> Engine:
        return self.kairos.engine

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run `fn` on the engine's loop (its state is that loop's to change)."""
        async def run() -> T:
            return fn()
        return self.kairos.call(run(), timeout)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0,
                 what: str = "condition") -> None:
        self.kairos.call(wait_for(self.engine, predicate, timeout, what), timeout + 5)

    def wait_sleeping(self, turns: int = 1, timeout: float = 10.0) -> None:
        engine = self.engine
        self.wait_for(lambda: engine.status.turns >= turns
                      and engine.status.state in ("sleeping", "no_api_key"),
                      timeout, f"{turns} finished turn(s)")

    def stop(self) -> None:
        self.kairos.stop_in_thread()


StartApp = Callable[..., RunningApp]  # start_app(home, api_key=...) -> RunningApp


class RunCommand:
    """`kairos run --headless [ARGS]` in a thread of this process (it prints to capsys)."""

    def __init__(self, cli: Cli, *args: str) -> None:
        self.cli = cli
        self.result: Result | None = None
        self._code: list[int] = []
        self._thread = threading.Thread(target=self._main, args=args, name="kairos-run",
                                        daemon=True)

    def _main(self, *args: str) -> None:
        self._code.append(main(["--home", str(self.cli.home.root), "run", "--headless",
                                *args]))

    def start(self) -> RunCommand:
        self.cli.capsys.readouterr()
        self._thread.start()
        return self

    def client(self) -> ControlClient:
        """The app's control API, once it is up."""
        def up() -> ControlClient | None:
            with contextlib.suppress(Exception):
                return ControlClient.for_home(self.cli.home)
            return None
        return wait_until(up, what="kairos run's control API")

    def stop(self, timeout: float = 20.0) -> Result:
        """Ask the app to stop through its control API, as the tray's Quit does."""
        if self._thread.is_alive():
            self.client().request_stop()
            self._thread.join(timeout)
        assert not self._thread.is_alive(), "kairos run did not stop"
        out, err = self.cli.capsys.readouterr()
        self.result = Result(self._code[0], out, err)
        return self.result
