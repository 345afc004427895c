"""Both Connections (application.py) answer every method alike: the running app over its
control API (ControlClient) and the home's files (OfflineApp). Same return shapes, and the same
error classes, so a command handles either one way."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kairos_desktop.application import Actions, Connection, Reads
from kairos_desktop.control.client import ControlClient
from kairos_desktop.errors import (
    ConflictError,
    ControlAPIError,
    InputError,
    InvalidCronError,
    KairosError,
    NotFoundError,
    NotRunningError,
    SettingsError,
)
from kairos_desktop.home import Home
from kairos_desktop.offline import OfflineApp
from tests.cli.harness import StartApp
from tests.conftest import write_settings


def connection_members() -> set[str]:
    names: set[str] = set()
    for proto in (Reads, Actions, Connection):
        names |= {n for n in vars(proto) if not n.startswith("_")}
        names |= set(getattr(proto, "__annotations__", {}))
    return names


@pytest.fixture
def both(home: Home, tmp_path: Path, start_app: StartApp) -> Iterator[tuple[Any, Any]]:
    """(the running app's ControlClient, an OfflineApp), each on a home the app ran on once
    (one turn, one model call) with a key it stored: the first still runs, the second
    stopped."""
    other = Home(tmp_path / "running").ensure()
    write_settings(other, {"inboxDir": str(tmp_path / "inbox")})
    for each in (home, other):
        each.api_keys().save("sk-ant-test-0000000000000000")
    stopped = start_app(home, api_key=None)
    stopped.wait_sleeping(1)
    stopped.stop()
    app = start_app(other, api_key=None)
    app.wait_sleeping(1)
    with OfflineApp.open(home) as offline:
        yield ControlClient.for_home(other), offline


def test_both_sides_have_every_method_with_the_same_signature() -> None:
    for name in connection_members():
        if name == "running":
            assert ControlClient.running is True and OfflineApp.running is False
            continue
        client, offline = getattr(ControlClient, name), getattr(OfflineApp, name)
        assert inspect.signature(client) == inspect.signature(offline), name


def keys(value: Any) -> Any:
    """The shape of an answer: its keys, or those of its items."""
    if isinstance(value, dict):
        return set(value)
    if isinstance(value, list):
        return [keys(v) for v in value]
    return type(value).__name__


def own(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in tasks if not t["builtin"]]


# What each call gives on both sides: "same" (equal answers), "shape" (the same keys), or the
# error class both raise. The running app differs by nature for status and the live actions.
Call = Callable[[Any], Any]
SAME: dict[str, Call] = {
    "messages": lambda c: c.messages(5),
    "inbox": lambda c: c.inbox(),
    "subscriptions": lambda c: c.subscriptions(),
    "approvals": lambda c: c.approvals(),
    "plugins": lambda c: c.plugins(),
    "queued": lambda c: c.queued(),
    "held": lambda c: c.held(),
    "describe_cron": lambda c: {k: v for k, v in c.describe_cron("57 8 * * 1-5").items()
                                if k != "next"},
    "settings_schema": lambda c: c.settings_schema(),
    "tasks": lambda c: own(c.tasks()),
    "log_text": lambda c: c.log_text(raw=True).count("**start**"),
    "verify_logs": lambda c: [(v["intact"], v["line"]) for v in c.verify_logs()],
}
SHAPE: dict[str, Call] = {
    "usage": lambda c: c.usage(),
    "usage_turns": lambda c: c.usage_turns(),
    "budget": lambda c: c.budget(),
    "raise_budget": lambda c: c.raise_budget(5.0),
    "log": lambda c: c.log(query="start"),
    "settings_view": lambda c: c.settings_view(),
    "add_task": lambda c: c.add_task("5 9 * * *", "water the plants", recurring=False,
                                     durable=True),
    "dream": lambda c: {k: v for k, v in c.dream().items() if k in ("state", "runs")},
    "send": lambda c: c.send("hello"),
    "set_api_key": lambda c: c.set_api_key("sk-ant-test-1234567890abcdef"),
    "clear_api_key": lambda c: c.clear_api_key(),
}
ERRORS: dict[str, tuple[Call, type[KairosError]]] = {
    "delete_task": (lambda c: c.delete_task("no-such-task"), NotFoundError),
    "mark_inbox_read": (lambda c: c.mark_inbox_read("nope"), NotFoundError),
    "mark_message_read": (lambda c: c.mark_message_read("nope"), NotFoundError),
    "message_history": (lambda c: c.message_history("not a cursor"), InputError),
    "undo_dream": (lambda c: c.undo_dream(), KairosError),
    "add_plugin": (lambda c: c.add_plugin("/no/such/plugin"), InputError),
    "remove_plugin": (lambda c: c.remove_plugin("nope"), NotFoundError),
    "allow_server": (lambda c: c.allow_server("nope"), NotFoundError),
    "retry_held": (lambda c: c.retry_held("nope"), NotFoundError),
    "drop_held": (lambda c: c.drop_held("nope"), NotFoundError),
}
# The running app does these; the home's files say it must run (NotRunningError).
LIVE: dict[str, Call] = {
    "status": lambda c: c.status()["running"],
    "wake": lambda c: c.wake(),
    "pause": lambda c: c.pause(),
    "resume": lambda c: c.resume(),
    "start_dream": lambda c: c.start_dream()["started"],
    "decide_approval": lambda c: c.decide_approval("nope", True, by="cli"),
    "panel_link": lambda c: c.panel_link(),
    "show": lambda c: c.show(),
    "request_stop": lambda c: c.request_stop(),
}


def test_every_method_is_covered_here() -> None:
    covered = {"running", "update_settings"} | set(SAME) | set(SHAPE) | set(ERRORS) | set(LIVE)
    assert covered == connection_members()


def test_reads_and_actions_answer_alike(both: tuple[Any, Any]) -> None:
    client, offline = both
    for name, call in SAME.items():
        assert call(client) == call(offline), name
    for name, call in SHAPE.items():
        assert keys(call(client)) == keys(call(offline)), name
    for call, kind in ERRORS.values():
        for side in (client, offline):
            with pytest.raises(kind):
                call(side)


def test_update_settings_answers_the_settings_themselves(both: tuple[Any, Any]) -> None:
    client, offline = both
    changes = {"dreamMinHours": 12}
    assert keys(client.update_settings(changes)) == keys(offline.update_settings(changes))


def test_the_same_bad_input_fails_the_same_way(both: tuple[Any, Any]) -> None:
    client, offline = both
    for side in (client, offline):
        with pytest.raises(SettingsError, match="unknown setting 'nope'") as bad:
            side.update_settings({"nope": 1})
        with pytest.raises(SettingsError, match="minSleepDurationMs") as worse:
            side.update_settings({"minSleepDurationMs": "soon"})
        assert worse.value.key == "minSleepDurationMs", side
        assert bad.value.key == "nope", side
        # The server says "bad input" without naming which kind: InputError over HTTP.
        with pytest.raises((InvalidCronError, InputError), match="not a valid cron"):
            side.add_task("61 * * * *", "x", recurring=False, durable=True)
        with pytest.raises(InputError) as key:
            side.add_task("5 9 * * *", "x", recurring="yes", durable=True)
        assert key.value.key == "recurring"
    with pytest.raises(ControlAPIError):  # and the client's errors are ControlAPIErrors too
        client.delete_task("no-such-task")


def test_what_needs_the_running_app(both: tuple[Any, Any]) -> None:
    client, offline = both
    assert LIVE["status"](client) is True and LIVE["status"](offline) is False
    assert LIVE["start_dream"](client) is False  # the gates say no: an answer, not an error
    assert LIVE["panel_link"](client).startswith(client.url + "/?code=")
    for name in ("wake", "pause", "resume"):
        LIVE[name](client)
    with pytest.raises(NotFoundError):
        LIVE["decide_approval"](client)
    with pytest.raises(ConflictError, match="headless"):
        LIVE["show"](client)
    for name, call in LIVE.items():
        if name != "status":
            with pytest.raises(NotRunningError, match="running"):
                call(offline)
    LIVE["request_stop"](client)
