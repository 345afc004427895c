"""The one path every command takes to a home: the running app, or its files."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import wraps
from typing import TYPE_CHECKING, Any

from ..control.client import ControlClient
from ..errors import NotRunningError
from ..home import Home

if TYPE_CHECKING:
    import argparse

    from ..application import Connection


@contextlib.contextmanager
def connect(home: Home) -> Iterator[Connection]:
    """The running app over its control API when it answers; else the home's files under the
    home's lock (HomeLockedError when another process holds it, the app starting up say)."""
    try:
        client = ControlClient.for_home(home)
    except NotRunningError:
        pass
    else:
        yield client
        return
    from ..offline import OfflineApp  # the engine's classes: only when no app runs

    with OfflineApp.open(home) as app:
        yield app


Command = Callable[["Connection", "argparse.Namespace"], int]


def on_connection(command: Command) -> Callable[[Home, argparse.Namespace], int]:
    """A command written against a Connection, as main() calls it: with the home."""

    @wraps(command)
    def run(home: Home, args: argparse.Namespace) -> Any:
        with connect(home) as conn:
            return command(conn, args)

    return run
