"""Which MCP tool calls run, which wait for the user, which are refused.

Why: an MCP tool can carry any file the model names out of the machine (fakechat's `reply` copies
`files: [...]` to its web page; a telegram bridge uploads them), and the model may be steered by
text it read (a channel message, a PR comment). The folder rules RunCommand and the file tools
keep (allowedFolders, the workspace) must hold for MCP tools too. So, for every call:

1. Every string in its arguments (recursively, through lists and objects) that looks like a local
   path (absolute, `~`/`~user`, `./` or `../`, `file://`, a Windows drive or UNC path) is resolved
   (symlinks followed); one outside allowedFolders and the workspace refuses the call, with an
   error saying which argument and why. Nothing is sent to the server.
2. Then the server's `tools` setting: "allow" runs the call; "ask" (the default) waits for the
   user's approval through the same broker as RunCommand (notification buttons, the panel, the
   CLI, and a channel's permission relay). One exception to the default: a call of a channel's
   own tool that names no local path runs without asking (replying in the chat the user set up is
   what a channel is for); with a path it asks.

A string is taken for a path only when it is one line and looks like one: "/start" (a chat
command) is not, "/etc/passwd", "/tmp" (it exists) and "~/notes.md" are. Every decision goes to the
daily log with the reason; the broker logs the user's own answers with where they came from.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

MAX_PATH_CHARS = 4_096
MAX_DEPTH = 20
_TILDE = re.compile(r"^~[A-Za-z0-9._-]*(?:/|$)")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")

Decision = Literal["allow", "ask", "refuse"]


def local_path(text: str) -> str | None:
    """The local path `text` names, as the OS would read it, or None when it is not one."""
    value = text.strip()
    if not value or len(value) > MAX_PATH_CHARS or "\n" in value or "\r" in value:
        return None
    if value.lower().startswith("file:"):
        parsed = urllib.parse.urlparse(value)
        if parsed.netloc not in ("", "localhost"):
            return f"//{parsed.netloc}{urllib.parse.unquote(parsed.path)}"  # a share: outside
        return urllib.parse.unquote(parsed.path) or "/"
    if _TILDE.match(value):
        return value
    if value.startswith(("./", "../")) or value in (".", ".."):
        return value
    if _DRIVE.match(value) or value.startswith("\\\\"):
        return value
    # "/start" or "/shrug" in a chat message is a command, not a file; a second "/" or an
    # existing entry makes it a path.
    if value.startswith("/") and (
            "/" in value[1:].rstrip("/") or value == "/" or os.path.lexists(value)):
        return value
    return None


def string_arguments(value: Any, where: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(where, text) for every string in `value`: "files[0]", "options.path"..."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        yield where or "(input)", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_arguments(item, f"{where}.{key}" if where else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_arguments(item, f"{where}[{index}]", depth + 1)


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def resolve(raw: str) -> Path | None:
    """`raw` made absolute (the server runs in this process's working directory) and resolved;
    None for what cannot be a local file here (a share, a foreign drive)."""
    if raw.startswith(("//", "\\\\")) or (_DRIVE.match(raw) and os.name != "nt"):
        return None
    try:
        return Path(raw).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    paths: tuple[str, ...] = ()


def decide(arguments: dict[str, Any], *, roots: list[Path], mode: str | None,
           is_channel: bool) -> Verdict:
    """What to do with one call (see the module docstring). `roots`: the workspace and the
    allowed folders, resolved; `mode`: the server's `tools` setting (None: the default)."""
    named: list[str] = []
    for where, text in string_arguments(arguments):
        raw = local_path(text)
        if raw is None:
            continue
        real = resolve(raw)
        if real is None or not any(_within(real, root) for root in roots):
            allowed = ", ".join(str(r) for r in roots) or "none"
            shown = str(real) if real is not None else raw
            return Verdict("refuse", f"argument {where} names {shown!r}, which is outside the "
                           f"folders the assistant may use ({allowed}); the user can add a folder "
                           "to the allowedFolders setting", (raw,))
        named.append(str(real))
    if mode == "allow":
        return Verdict("allow", "the server's tools are set to \"allow\"", tuple(named))
    if mode is None and is_channel and not named:
        return Verdict("allow", "a channel's own tool, naming no local file", ())
    why = ("it names " + ", ".join(named) + " (a file it may send out)") if named else (
        "the server's tools are set to \"ask\"" if mode == "ask" else
        "tools of MCP servers ask by default (set the server's \"tools\" to \"allow\" to stop "
        "asking)")
    return Verdict("ask", why, tuple(named))
