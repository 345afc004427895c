"""`kairos` tells "not running" from "not answering": a run/control.json whose port refuses the
connection (a crash left it) is not running, and the command works on the home's files; an app
that took the connection but does not answer (a notebook cell holding the loop that serves the
control API) is running but busy, and the command says so, naming its pid, instead of falling
back to the files under the running app."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator

import pytest

from kairos_desktop.control.client import ControlClient
from kairos_desktop.errors import NotAnsweringError
from kairos_desktop.home import Home
from tests.cli.harness import Cli


def write_control(home: Home, port: int) -> None:
    home.ensure()
    home.control_file.parent.mkdir(parents=True, exist_ok=True)
    # This test's own process stands for the app: alive, so the file is not stale.
    home.control_file.write_text(json.dumps({"pid": os.getpid(), "port": port,
                                             "token": "t", "host": "127.0.0.1"}))


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener takes connections (the kernel completes them) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_an_app_that_does_not_answer_is_reported_busy_with_its_pid(
        cli: Cli, home: Home, silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ControlClient, "default_timeout", 0.5)
    write_control(home, silent_port)
    result = cli("status")
    assert result.code == 1
    assert f"kairos is running (pid {os.getpid()}) but did not answer within 0.5 s" in result.err
    assert "not running" not in result.err + result.out
    with pytest.raises(NotAnsweringError):
        ControlClient.for_home(home)


def test_a_control_file_whose_port_refuses_is_not_running(cli: Cli, home: Home) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more: the connection is refused
    write_control(home, port)
    result = cli("status")
    assert result.code == 0 and "not running" in result.out
