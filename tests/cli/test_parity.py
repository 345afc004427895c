"""The same commands give the same answers whichever Connection serves them: the running app
over its control API, or the home's files with none running.

Each scenario runs twice, on two fresh homes with the same settings: once with an engine running
in this test (the CLI talks to its control API) and once with none (the CLI opens the files
under the home's lock). What a user reads (exit status, stdout, stderr) must match, once the
things that differ by nature are masked: the home's path, task ids, times. Where the two MUST
differ (what `send` says), the scenario asserts each side's words and records only the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kairos_desktop.home import Home
from kairos_desktop.offline import OfflineApp
from tests.cli.harness import Cli, Result, RunningApp, StartApp
from tests.conftest import write_settings
from tests.fakes.anthropic_server import FakeAnthropic, tool_use

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)?")
CLOCK = re.compile(r"\b\d\d:\d\d:\d\d\b")
JITTER = re.compile(r" \([+-]\d+ (min|s) jitter\)")


@dataclass
class Side:
    cli: Cli
    app: RunningApp | None  # None: no app runs, the CLI works on the files

    @property
    def running(self) -> bool:
        return self.app is not None

    def __call__(self, *args: str) -> Result:
        result = self.cli(*args)
        mask = lambda text: JITTER.sub("", CLOCK.sub("<hh:mm:ss>", TIME.sub(  # noqa: E731
            "<time>", text.replace(str(self.cli.home.root), "<home>"))))
        return Result(result.code, mask(result.out), mask(result.err))

    def chat(self) -> list[tuple[str, str]]:
        """The chat as the panel shows it (who said what), from the app or from the files."""
        if self.app is not None:
            items = self.app.call(lambda: self.app.engine.app.chat())  # type: ignore[union-attr]
        else:
            with OfflineApp.open(self.cli.home) as app:
                items = app.chat()
        return [(item["role"], item["text"]) for item in items]


def own_tasks(side: Side) -> list[dict[str, Any]]:
    """`tasks list --json` without the running app's built-ins, and without what names a
    task or a moment (ids, times)."""
    tasks = json.loads(side("tasks", "list", "--json").out)
    return [{k: v for k, v in t.items() if k in ("cron", "prompt", "recurring", "durable",
                                                 "description", "permanent")}
            for t in tasks if not t["builtin"]]


Scenario = Callable[[Side], list[Any]]


def send_then_messages_and_chat(side: Side) -> list[Any]:
    sent = side("send", "hello", "there")
    assert sent.out.strip() == ("sent to the running assistant" if side.running else
                                "kairos is not running: the message is queued and will be "
                                "delivered at the next start")
    return [sent.code, sent.err, side("messages"), side("messages", "--json"),
            side.chat(), side("send", "  ")]


def task_add_list_delete(side: Side) -> list[Any]:
    added = side("tasks", "add", "--cron", "57 8 * * 1-5", "--prompt", "check PRs",
                 "--recurring")
    [task_id] = re.findall(r"^task (\w+) ", added.out)
    mask = lambda r: Result(r.code, r.out.replace(task_id, "<id>"),  # noqa: E731
                            r.err.replace(task_id, "<id>"))
    listed = [line.replace(task_id, "<id>") for line in side("tasks", "list").out.splitlines()
              if "built-in" not in line]
    seen = [mask(added), listed, own_tasks(side), mask(side("tasks", "rm", task_id))]
    again = side("tasks", "rm", task_id)
    # The rest of the message lists the tasks there are: the running app's built-ins, here.
    seen += [again.code, again.err.replace(task_id, "<id>").split(" (tasks:")[0],
             own_tasks(side), side("tasks", "list", "--json").code]
    return seen


def bad_cron_refused(side: Side) -> list[Any]:
    seen: list[Any] = [side("tasks", "add", "--cron", cron, "--prompt", "x")
                       for cron in ("61 * * * *", "0 0 31 2 *", "0 9 * * * *")]
    seen.append(side("tasks", "add", "--cron", "5 9 * * *", "--prompt", " "))
    seen.append(own_tasks(side))  # nothing was stored
    return seen


def settings_good_and_bad(side: Side) -> list[Any]:
    before = side.cli.home.settings_file.read_text()
    seen: list[Any] = [side("settings", "set", "sleepDuration", "5"),
                       side("settings", "set", "minSleepDurationMs", "soon"),
                       side("settings", "set", "maxInboxFileBytes", "-3")]
    seen.append(side.cli.home.settings_file.read_text() == before)  # unchanged
    seen += [side("settings", "set", "allowedFolders", '["~/notes"]'),
             side("settings", "set", "assistantName", "Juniper"),
             side("settings", "show"), side("settings", "show", "--json")]
    return seen


def listings(side: Side) -> list[Any]:
    side("settings", "set", "dreamMinHours", "12")  # one entry both daily logs hold
    logs = side("logs")
    verify = side("logs", "verify")
    return [side("inbox"), side("inbox", "--json"),
            side("subscriptions"), side("subscriptions", "--json"),
            side("messages"), side("messages", "--json", "--limit", "5"),
            [line for line in logs.out.splitlines() if "**settings**" in line], logs.code,
            side("logs", "--date", "2001-01-01"), side("logs", "--date", "yesterday"),
            verify.code, re.sub(r"[\d,]+ entries", "<n> entries", verify.out),
            side("logs", "verify", "--date", "2001-01-01")]


def dream_undo_with_nothing_to_undo(side: Side) -> list[Any]:
    return [side("dream", "undo"), side("dream", "log"), side("dream", "log", "--json")]


SCENARIOS: list[Scenario] = [send_then_messages_and_chat, task_add_list_delete,
                             bad_cron_refused, settings_good_and_bad, listings,
                             dream_undo_with_nothing_to_undo]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_a_command_reads_the_same_with_the_app_running_or_not(
        scenario: Scenario, home: Home, tmp_path: Path, start_app: StartApp, fake: FakeAnthropic,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake.on_empty = tool_use("Sleep", {"seconds": 3000})  # it never answers: nothing to race
    settings = json.loads(home.settings_file.read_text())
    offline = scenario(Side(Cli(home, capsys, monkeypatch), None))

    other = Home(tmp_path / "running").ensure()
    write_settings(other, settings)
    app = start_app(other)
    app.wait_sleeping(1)
    online = scenario(Side(Cli(other, capsys, monkeypatch), app))

    assert online == offline
