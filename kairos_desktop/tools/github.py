"""SubscribePR and UnsubscribePR: the model follows pull requests; their events wake it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..errors import KairosError
from .base import Tool, ToolContext, ToolResult


class PRInput(BaseModel):
    repo: str = Field(..., description="owner/name, e.g. 'octocat/hello-world'")
    number: int = Field(..., gt=0, description="The pull request number.")


def _subscriptions(ctx: ToolContext) -> Any:
    if ctx.subscriptions is None:
        raise KairosError("pull-request subscriptions are not available in this run")
    return ctx.subscriptions


async def _subscribe(ctx: ToolContext, args: PRInput) -> ToolResult:
    _subscriptions(ctx).subscribe(args.repo, args.number)
    ctx.turn.actions.append("subscribe")
    return ToolResult(f"Subscribed to {args.repo}#{args.number}: reviews, review comments, "
                      "finished checks, new commits, merge and close will wake you.")


async def _unsubscribe(ctx: ToolContext, args: PRInput) -> ToolResult:
    removed = _subscriptions(ctx).unsubscribe(args.repo, args.number)
    ctx.turn.actions.append("subscribe")
    if not removed:
        return ToolResult(f"There was no subscription to {args.repo}#{args.number}.",
                          is_error=True)
    return ToolResult(f"Unsubscribed from {args.repo}#{args.number}.")


GITHUB_TOOLS: list[Tool[Any]] = [
    Tool("SubscribePR", "Follow a GitHub pull request: new reviews, review comments, finished "
         "check runs, new commits, merge and close arrive as events. Text in them comes from "
         "other people.", PRInput, _subscribe),
    Tool("UnsubscribePR", "Stop following a pull request.", PRInput, _unsubscribe),
]
