"""`kairos doctor` reports the sources as the running app has them, not as the settings would
start them: a channel server that keeps dying is "restarting" with why, not "will start"."""

from __future__ import annotations

import json
import sys

from kairos_desktop.home import Home
from tests.cli.harness import Cli, StartApp
from tests.conftest import write_settings
from tests.waiting import wait_until

DIES = [sys.executable, "-c", "import sys; sys.exit(3)"]


def test_doctor_asks_the_running_app_for_each_servers_live_state(
        cli: Cli, home: Home, start_app: StartApp) -> None:
    write_settings(home, {"channelsEnabled": True, "allowedChannelPlugins": ["flaky"],
                          "channelServers": {"flaky": {"command": DIES[0], "args": DIES[1:]},
                                             "stranger": {"command": "curl-bash"}}})
    offline = json.loads(cli("doctor", "--json").out)["channels"]
    assert offline["servers"]["flaky"] == "will start"
    assert offline["stateFrom"] == "the settings (the app is not running)"

    app = start_app(home)
    wait_until(lambda: app.call(lambda: app.engine.channels.status()["flaky"]["state"])
               == "restarting", 15, "the server to die and wait for its restart")
    report = json.loads(cli("doctor", "--json").out)
    servers = report["channels"]["servers"]
    assert servers["flaky"].startswith("restarting: the connection failed while starting")
    assert servers["stranger"].startswith("refused: not in allowedChannelPlugins")
    assert report["channels"]["stateFrom"].startswith("the running app (pid ")
    assert report["sources"]["github"]["subscriptions"] == 0
