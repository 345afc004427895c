"""What the CLI says about the desktop side and its tasks, as a person reads it: the panel
when no browser opens, a one-shot task that reads like a schedule, recurring tasks' end,
`kairos stop`, the help of every --json, and `settings set KEY VALUE`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kairos_desktop.cli.parser import build_parser
from tests.cli.harness import Cli, RunCommand, RunningApp
from tests.waiting import wait_until


def test_panel_fails_with_the_address_when_no_browser_opens(
        cli: Cli, running: RunningApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSER", "/bin/false")  # a browser that cannot start
    result = cli("panel")
    assert result.code == 1
    assert "no browser could be started" in result.err and "http://127.0.0.1:" in result.err


def test_a_task_added_without_recurring_says_it_runs_once(cli: Cli) -> None:
    once = cli("tasks", "add", "--cron", "57 8 * * 1-5", "--prompt", "check my PRs")
    assert once.code == 0
    assert "once, at the next match of: At 08:57, Monday to Friday" in once.out
    assert "--recurring repeats it" in once.out


def test_a_recurring_task_says_when_it_ends(cli: Cli) -> None:
    added = cli("tasks", "add", "--cron", "0 9 * * *", "--prompt", "stand-up", "--recurring")
    assert added.code == 0 and "every time: At 09:00" in added.out
    assert ", ends 20" in added.out and "(recurringMaxAgeMs)" in added.out
    listed = cli("tasks", "list")
    assert "(recurring, ends 20" in listed.out


def test_stop_asks_the_running_app_to_stop(cli: Cli, run_command: Callable[..., RunCommand]
                                           ) -> None:
    run = run_command()
    run.client()  # up
    result = cli("stop")
    assert result.code == 0 and "asked the running app to stop" in result.out
    wait_until(lambda: not run._thread.is_alive(), what="kairos run to end")
    assert run.stop().code == 0  # ended on its own, cleanly


def test_stop_without_a_running_app_says_so(cli: Cli) -> None:
    result = cli("stop")
    assert result.code == 1 and "not running for this home: nothing to stop" in result.err


def test_every_json_flag_and_settings_set_say_what_they_do() -> None:
    parser = build_parser()
    undocumented = []

    def walk(p: object, path: str) -> None:
        for action in p._actions:  # type: ignore[attr-defined]
            if action.option_strings and action.help is None:
                undocumented.append(f"{path} {action.option_strings[0]}")
            if action.choices and isinstance(action.choices, dict):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not action.option_strings and action.help is None and action.dest != "command":
                undocumented.append(f"{path} {action.dest}")

    walk(parser, "kairos")
    assert [u for u in undocumented if "--json" in u or u.startswith("kairos settings set")
            or "--verbose" in u or u.endswith(" -v")] == []


def test_renaming_the_assistant_keeps_the_files_in_one_inbox(cli: Cli) -> None:
    import json
    import os
    from pathlib import Path

    from tests.conftest import write_settings

    write_settings(cli.home, {"inboxDir": None})  # the default: <Downloads>/<name> Inbox
    inbox = Path(os.environ["XDG_DOWNLOAD_DIR"]) / "Kairos Inbox"
    inbox.mkdir(parents=True)
    (inbox / "report.md").write_text("# delivered before the rename\n")
    assert cli("settings", "set", "assistantName", "Ava").code == 0
    saved = json.loads(cli.home.settings_file.read_text())
    assert saved["assistantName"] == "Ava" and saved["inboxDir"] == str(inbox)
    # With nothing delivered yet, a rename just renames (the folder follows the name).
    write_settings(cli.home, {"inboxDir": None})
    (inbox / "report.md").unlink()
    inbox.rmdir()
    assert cli("settings", "set", "assistantName", "Juniper").code == 0
    assert json.loads(cli.home.settings_file.read_text())["inboxDir"] is None


def test_a_bad_cron_names_the_field_that_is_wrong(cli: Cli) -> None:
    for cron, says in (("61 * * * *", "the minute field ('61') takes 0-59"),
                       ("0 9 * * 9", "the day of the week field ('9') takes 0-7")):
        result = cli("tasks", "add", "--cron", cron, "--prompt", "x")
        assert result.code == 2 and says in result.err and "nothing was stored" in result.err
