"""Event sources outside the user: MCP channels, pull-request subscriptions, watched folders.

Each is a package implementing one contract (base.Source); `build_sources` is the one place
that knows them all, so the composition root starts, stops, asks and tells them as a list.
"""

from __future__ import annotations

from ..settings import Settings
from .base import BLOCKING_READ_TIMEOUT_S, Source, SourceContext, find_source
from .channels import ChannelManager
from .folders import FolderWatcher
from .github import PRSubscriptions, resolve_token

__all__ = [
    "BLOCKING_READ_TIMEOUT_S",
    "ChannelManager",
    "FolderWatcher",
    "PRSubscriptions",
    "Source",
    "SourceContext",
    "build_sources",
    "find_source",
]


def build_sources(ctx: SourceContext, settings: Settings) -> list[Source]:
    """Every source, built from `ctx` and given `settings` (their first apply_settings), in
    the order they start: channels, github, folders. No I/O: no thread, no process, no socket,
    no file until each one's start()."""
    sources: list[Source] = [
        ChannelManager(put=ctx.put, clock=ctx.clock, daily_log=ctx.daily_log,
                       notify_user=ctx.notify_user, approvals=ctx.approvals,
                       workspace=ctx.workspace, on_change=ctx.on_change),
        PRSubscriptions(store=ctx.store, put=ctx.put, put_many=ctx.put_many, clock=ctx.clock,
                        daily_log=ctx.daily_log,
                        token_provider=ctx.github_token or resolve_token,
                        token_timeout=ctx.blocking_timeout),
        FolderWatcher(put=ctx.put, clock=ctx.clock, daily_log=ctx.daily_log,
                      exclude=ctx.exclude),
    ]
    for source in sources:
        source.apply_settings(settings)
    return sources
