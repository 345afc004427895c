"""The `kairos` command: a thin layer over the application API.

Every command on a home takes one path (connection.py): the running app over its control API
when it answers, else the home's files under the home's lock; both are a `Connection`
(application.py), so each command is written once (commands.py) and only formats what it
returns. `kairos run`, `autostart` and `doctor` are not on a home's Connection (run.py).

Exit status: 0 done, 1 could not (e.g. already running, not running, nothing to undo), 2 bad
input (the message names what was wrong).

  parser.py      every command, flag and help text
  connection.py  connect(home): the running app, or the home's files
  commands.py    the commands on a Connection
  run.py         run (the app itself), autostart, doctor
"""

from __future__ import annotations

import logging
import sys

from ..errors import (
    ApiKeyError,
    HomeLockedError,
    InputError,
    InvalidCronError,
    KairosError,
    SettingsError,
    TaskLimitError,
)
from ..home import Home
from .parser import build_parser
from .run import cmd_run

# What the user typed was wrong, and the message names what: exit 2.
BAD_INPUT = (SettingsError, InputError, InvalidCronError, TaskLimitError, ApiKeyError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "command", None):  # bare `kairos`: run the app
        args.handler = cmd_run
        args.headless, args.resume, args.session_id = False, False, None
        args.exit_after, args.verbose = None, False
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home = Home(args.home)
    try:
        return int(args.handler(home, args) or 0)
    except BAD_INPUT as exc:
        print(f"kairos: {exc}", file=sys.stderr)
        return 2
    except HomeLockedError as exc:  # the message names the home and who holds it
        print(f"kairos: {exc}; try again", file=sys.stderr)
        return 1
    except KairosError as exc:
        print(f"kairos: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
