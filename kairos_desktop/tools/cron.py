"""CronCreate, CronDelete, CronList: the model schedules its own future work."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..scheduler.runtime import Scheduler
from ..scheduler.task import CatchUp
from .base import Tool, ToolContext, ToolResult


class CronCreateInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    cron: str = Field(..., description=(
        "5 fields in the user's local time: minute hour day-of-month month day-of-week. "
        "For a one-shot task give the exact date, e.g. '20 14 22 11 *' for 14:20 on 22 November."))
    prompt: str = Field(..., description="What you should do when it fires, in full: you will "
                        "read it later without today's context.")
    recurring: bool = Field(..., description="true: fire on every match; false: fire once.")
    durable: bool = Field(..., description=(
        "true: survives app restarts (use when the user asked for it to last, e.g. 'every "
        "Monday', 'remind me next week'); false: only for this session."))
    catch_up: CatchUp = Field("once", alias="catchUp", description=(
        "What a run missed while the computer slept or the app was closed does. \"once\" "
        "(default): it runs once when the app is back, marked as a catch-up; for what must "
        "still happen late ('pay the rent'). \"skip\": it is let pass and recorded on the "
        "task; for what is useless late ('check the standup at 9')."))


class CronDeleteInput(BaseModel):
    id: str = Field(..., description="The task id from CronCreate or CronList.")


class CronListInput(BaseModel):
    pass


def _scheduler(ctx: ToolContext) -> Scheduler:
    if ctx.scheduler is None:
        raise RuntimeError("scheduling is not available in this run")
    return ctx.scheduler


async def _create(ctx: ToolContext, args: CronCreateInput) -> ToolResult:
    task = _scheduler(ctx).create(args.cron, args.prompt, recurring=args.recurring,
                                  durable=args.durable, catch_up=args.catch_up)
    ctx.turn.actions.append("cron")
    return ToolResult(json.dumps({"id": task.id, "nextFireAt": task.next_due_at,
                                  "recurring": task.recurring, "durable": task.durable,
                                  "catchUp": task.catch_up}))


async def _delete(ctx: ToolContext, args: CronDeleteInput) -> ToolResult:
    task = _scheduler(ctx).delete(args.id)
    ctx.turn.actions.append("cron")
    return ToolResult(f"Deleted task {task.id} ({task.cron}: {task.prompt[:80]}).")


async def _list(ctx: ToolContext, args: CronListInput) -> ToolResult:
    tasks = [{"id": t.id, "cron": t.cron, "prompt": t.prompt, "recurring": t.recurring,
              "durable": t.durable, "permanent": t.permanent, "builtin": t.builtin,
              "nextFireAt": t.next_due_at, "lastFiredAt": t.last_fired_at,
              "catchUp": t.catch_up,
              "lastMissed": t.last_missed.text if t.last_missed else None}
             for t in _scheduler(ctx).tasks()]
    return ToolResult(json.dumps(tasks, indent=1) if tasks else "No scheduled tasks.")


CRON_TOOLS: list[Tool[Any]] = [
    Tool("CronCreate", (
        "Schedule a prompt for yourself at a time given as a cron expression in the user's local "
        "time zone. For approximate requests ('around 9', 'in the morning', 'hourly') pick a "
        "minute that is NOT :00 or :30, e.g. '57 8 * * *' or '3 9 * * *' for 'around 9': "
        "everyone's round-hour jobs hit the API at the same second. Use the exact minute only "
        "when the user gave one ('at 14:00 sharp'). Make a task durable only when the user asked "
        "for it to last; recurring tasks expire after 7 days unless the user made them "
        "permanent. Returns the task id and the next fire time."),
         CronCreateInput, _create),
    Tool("CronDelete", "Delete a scheduled task by id.", CronDeleteInput, _delete),
    Tool("CronList", "List scheduled tasks with their next fire times.", CronListInput, _list),
]
