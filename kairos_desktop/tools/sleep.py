"""Sleep: how the model idles. It ends the turn; the loop clamps the length to the settings and
wakes early when anything arrives."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .base import Tool, ToolContext, ToolResult


class SleepInput(BaseModel):
    seconds: float = Field(..., description="How long to sleep, in seconds.")


async def _sleep(ctx: ToolContext, args: SleepInput) -> ToolResult:
    if args.seconds != args.seconds or args.seconds < 0:  # NaN or negative
        return ToolResult("seconds must be a non-negative number", is_error=True)
    ctx.turn.sleep_seconds = args.seconds
    return ToolResult(f"Sleeping for up to {args.seconds:g} s.")


SLEEP_TOOL = Tool(
    name="Sleep",
    description=(
        "Stop working and wait. Call this whenever there is nothing useful to do right now, and "
        "always at the end of your work on a tick. The sleep ends early when the user writes or "
        "any other event arrives. Every wake-up is a paid model call: sleep long when idle. The "
        "app clamps the duration to the user's minimum and maximum sleep settings."
    ),
    input_model=SleepInput,
    handler=_sleep,
)
