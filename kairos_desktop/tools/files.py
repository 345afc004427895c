"""File tools: SendUserFile (into the user's inbox), ReadFile and ListFiles (workspace and allowed
folders), WriteFile (workspace only). The FolderPolicy decides every path. ReadFile opens regular
files only, and says what anything else is: a named pipe's open would wait for a writer forever."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..atomic import atomic_write_text
from ..errors import PathNotAllowedError
from .base import Tool, ToolContext, ToolResult
from .web import with_sources


class SendUserFileInput(BaseModel):
    path: str = Field(..., description="The file to deliver (workspace or an allowed folder).")
    title: str | None = Field(None, description="A short title shown to the user.")


async def _send_user_file(ctx: ToolContext, args: SendUserFileInput) -> ToolResult:
    record = await ctx.deliveries.file(args.path, args.title, call_id=ctx.turn.call_id)
    ctx.turn.actions.append("file")
    return ToolResult(
        f"Delivered {record['name']} ({record['size']:,} bytes) to the user's inbox "
        f"as {record['path']}."
    )


class ReadFileInput(BaseModel):
    path: str = Field(..., description="Path of a text file (relative paths are in the workspace).")
    offset: int = Field(0, ge=0, description="Character offset to start reading at.")


# What a path that is not a regular file is, in words (st_mode's file type).
_KINDS = ((stat.S_ISDIR, "a folder; use ListFiles"),
          (stat.S_ISFIFO, "a named pipe, not a regular file"),
          (stat.S_ISSOCK, "a socket, not a regular file"),
          (stat.S_ISCHR, "a character device, not a regular file"),
          (stat.S_ISBLK, "a block device, not a regular file"))


def _not_a_file(raw: str, mode: int) -> PathNotAllowedError | None:
    if stat.S_ISREG(mode):
        return None
    kind = next((words for test, words in _KINDS if test(mode)), "not a regular file")
    return PathNotAllowedError(f"{raw!r} is {kind}")


def _open_regular(path: Path, raw: str) -> int:
    """A descriptor on `path` if it is a regular file. Its type is checked before opening (a
    named pipe's open would wait for a writer, a device's may act) and again on the descriptor
    (O_NONBLOCK: a pipe swapped in meanwhile opens at once and is refused)."""
    try:
        found = _not_a_file(raw, os.stat(path).st_mode)
    except FileNotFoundError:
        raise PathNotAllowedError(f"{raw!r} does not exist") from None
    if found is not None:
        raise found
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    found = _not_a_file(raw, os.fstat(fd).st_mode)
    if found is not None:
        os.close(fd)
        raise found
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


async def _read_file(ctx: ToolContext, args: ReadFileInput) -> ToolResult:
    path = ctx.policy.readable(args.path)
    limit = ctx.settings.max_read_bytes
    fd = _open_regular(path, args.path)
    with open(fd, encoding="utf-8", errors="replace") as handle:
        text = handle.read(args.offset + limit + 1)[args.offset:]
    if len(text) > limit:
        return ToolResult(
            text[:limit] + f"\n\n[truncated at {limit} characters; call ReadFile again with "
            f"offset={args.offset + limit} for more]"
        )
    return ToolResult(text or "(empty file)")


class ListFilesInput(BaseModel):
    path: str = Field(".", description="A folder (relative paths are in the workspace).")


async def _list_files(ctx: ToolContext, args: ListFilesInput) -> ToolResult:
    folder = ctx.policy.readable(args.path)
    if not folder.is_dir():
        raise PathNotAllowedError(f"{args.path!r} is not a folder")
    entries = sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
    lines = [f"{p.name}/" if p.is_dir() else f"{p.name}  ({p.stat().st_size:,} bytes)"
             for p in entries[:500]]
    if len(entries) > 500:
        lines.append(f"... and {len(entries) - 500} more")
    return ToolResult(f"{folder}:\n" + ("\n".join(lines) if lines else "(empty)"))


class WriteFileInput(BaseModel):
    path: str = Field(..., description="Where to write, inside the workspace.")
    content: str = Field(..., description="The whole new content of the file.")


# A report written in a turn that read the web names its sources (see tools/web.py).
CITED_SUFFIXES = (".md", ".markdown", ".txt")


async def _write_file(ctx: ToolContext, args: WriteFileInput) -> ToolResult:
    target = ctx.policy.writable(args.path)
    content = args.content
    if target.suffix.lower() in CITED_SUFFIXES:
        content = with_sources(content, ctx.turn.web_sources)
    atomic_write_text(target, content)
    ctx.turn.actions.append("write")
    ctx.daily_log.append("file written", f"{target} ({len(content):,} characters)")
    cited = " (the web pages it relies on are listed at its end)" \
        if content != args.content else ""
    return ToolResult(f"Wrote {len(content):,} characters to {target}{cited}.")


FILE_TOOLS: list[Tool[Any]] = [
    Tool("SendUserFile",
         "Deliver a file to the user: it is copied into their inbox folder (never overwriting "
         "anything there) and announced. Write the file in the workspace first if needed.",
         SendUserFileInput, _send_user_file),
    Tool("ReadFile", "Read a text file from the workspace or a folder the user allowed.",
         ReadFileInput, _read_file),
    Tool("ListFiles", "List a folder in the workspace or a folder the user allowed.",
         ListFilesInput, _list_files),
    Tool("WriteFile", "Create or replace a file inside the workspace (the only place you may "
         "write). The write is atomic.", WriteFileInput, _write_file),
]
