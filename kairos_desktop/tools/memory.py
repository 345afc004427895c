"""Memory tools: read and search everything in memory; write topic files and the index only.
Daily logs can be read and searched, never written: no tool here takes a log path to write."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from ..errors import PathNotAllowedError
from ..journal import MARKER
from ..memory.files import MemoryFiles
from .base import Tool, ToolContext, ToolResult

READ_LIMIT = 60_000


def _files(ctx: ToolContext) -> MemoryFiles:
    if ctx.memory is None:
        raise PathNotAllowedError("memory is not available in this run")
    return ctx.memory


def _written(ctx: ToolContext, what: str) -> None:
    ctx.turn.actions.append("memory")
    ctx.daily_log.append("memory", what)
    if ctx.on_memory_write is not None:
        ctx.on_memory_write(what.split(" ", 1)[0])


class MemoryReadInput(BaseModel):
    path: str = Field(..., description="Relative to the memory folder: 'MEMORY.md', "
                      "'topics/<name>.md' or 'logs/YYYY/MM/YYYY-MM-DD.md'.")


async def _read(ctx: ToolContext, args: MemoryReadInput) -> ToolResult:
    path = _files(ctx).resolve(args.path)
    text = "\n".join(MARKER.sub("", line) for line in
                     path.read_text(encoding="utf-8").splitlines())
    if len(text) > READ_LIMIT:
        text = text[-READ_LIMIT:] + f"\n[showing the last {READ_LIMIT} characters]"
    return ToolResult(text or "(empty)")


class MemorySearchInput(BaseModel):
    query: str = Field(..., min_length=2, description="Plain text, case-insensitive.")
    limit: int = Field(20, ge=1, le=100)


async def _search(ctx: ToolContext, args: MemorySearchInput) -> ToolResult:
    # Off the loop: the first search of an old home builds the logs' index (seconds).
    hits = await asyncio.to_thread(_files(ctx).search, args.query, limit=args.limit)
    if not hits:
        return ToolResult(f"No memory mentions {args.query!r}.")
    return ToolResult("\n".join(f"{h.path}:{h.line}: {h.text}" for h in hits))


class MemoryListInput(BaseModel):
    pass


async def _list(ctx: ToolContext, args: MemoryListInput) -> ToolResult:
    files = _files(ctx)
    lines = [f"MEMORY.md ({len(files.read_index().encode()):,} bytes)"]
    lines += [f"topics/{name}.md ({files.topic_path(name).stat().st_size:,} bytes)"
              for name in files.topics()]
    logs = sorted(files.logs_dir.rglob("*.md")) if files.logs_dir.exists() else []
    if logs:
        lines.append(f"logs: {len(logs)} days, {logs[0].stem} to {logs[-1].stem}")
    return ToolResult("\n".join(lines))


class MemoryWriteInput(BaseModel):
    topic: str = Field(..., description="Topic name, e.g. 'work-projects' (no path).")
    content: str = Field(..., description="The whole new content of the topic file (Markdown).")


async def _write(ctx: ToolContext, args: MemoryWriteInput) -> ToolResult:
    path = _files(ctx).write_topic(args.topic, args.content)
    _written(ctx, f"topics/{path.name} written ({len(args.content):,} characters)")
    return ToolResult(f"Wrote topics/{path.name}. Make sure MEMORY.md links to it.")


class MemoryEditInput(BaseModel):
    topic: str
    old_text: str = Field(..., min_length=1, description="An exact, unique excerpt to replace.")
    new_text: str = Field(..., description="Its replacement ('' to delete it).")


async def _edit(ctx: ToolContext, args: MemoryEditInput) -> ToolResult:
    path = _files(ctx).edit_topic(args.topic, args.old_text, args.new_text)
    _written(ctx, f"topics/{path.name} edited")
    return ToolResult(f"Edited topics/{path.name}.")


class MemoryIndexInput(BaseModel):
    content: str = Field(..., description="The whole new MEMORY.md: one line per topic, "
                         "'- [Title](topics/name.md): short hook'. At most 200 lines, 25 KB.")


async def _index(ctx: ToolContext, args: MemoryIndexInput) -> ToolResult:
    _files(ctx).write_index(args.content)
    _written(ctx, f"MEMORY.md updated ({len(args.content.splitlines())} lines)")
    return ToolResult("MEMORY.md updated.")


class MemoryDeleteInput(BaseModel):
    topic: str


async def _delete(ctx: ToolContext, args: MemoryDeleteInput) -> ToolResult:
    _files(ctx).delete_topic(args.topic)
    _written(ctx, f"topics/{args.topic}.md deleted")
    return ToolResult(f"Deleted topics/{args.topic}.md. Remove its line from MEMORY.md.")


READ = Tool("MemoryRead", "Read a memory file: the index, a topic, or a daily log.",
            MemoryReadInput, _read)
SEARCH = Tool("MemorySearch", "Search all memory (index, topics, daily logs; newest logs first) "
              "for a phrase. Prefer a narrow search to reading whole logs.",
              MemorySearchInput, _search)
LIST = Tool("MemoryList", "List the memory folder: index, topics with sizes, the logs' span.",
            MemoryListInput, _list)
WRITE = Tool("MemoryWrite", "Create or replace a topic file in memory/topics/. Keep one subject "
             "per topic, facts with absolute dates.", MemoryWriteInput, _write)
EDIT = Tool("MemoryEdit", "Replace one exact excerpt in a topic file.", MemoryEditInput, _edit)
INDEX = Tool("MemoryIndex", "Replace MEMORY.md, the index you read every session: one short line "
             "per topic. At most 200 lines and 25 KB.", MemoryIndexInput, _index)
DELETE = Tool("MemoryDelete", "Delete a topic file.", MemoryDeleteInput, _delete)

MEMORY_TOOLS: list[Tool[Any]] = [READ, SEARCH, WRITE, EDIT, INDEX]
DREAM_MEMORY_TOOLS: list[Tool[Any]] = [LIST, READ, SEARCH, WRITE, EDIT, INDEX, DELETE]
