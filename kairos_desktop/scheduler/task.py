"""CronTask: what a scheduled task is, as stored (camelCase) and as shown to the model."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

CatchUp = Literal["once", "skip"]
CATCH_UP_CHOICES: tuple[CatchUp, ...] = ("once", "skip")


def new_task_id() -> str:
    return uuid.uuid4().hex[:8]


class MissedRuns(BaseModel):
    """Slots a task with catchUp "skip" let pass while the machine slept or the app was
    closed: kept on the task (and in the daily log), so nothing vanishes silently."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    count: int
    since: str  # the last run (or the creation) before the gap, ISO 8601
    at: str  # when the gap was noticed
    text: str  # "missed 3 runs while the laptop slept or kairos was closed"


class CronTask(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    id: str = Field(default_factory=new_task_id)
    cron: str
    prompt: str
    created_at: str  # ISO 8601 with offset
    last_fired_at: str | None = None
    recurring: bool = True
    permanent: bool = False
    durable: bool = True
    # Built-in tasks carry their name ("morning-check-in"...); None for everyone else's.
    builtin: str | None = None
    # "prompt": the prompt goes to the model; "dream": the memory consolidation runs instead.
    action: Literal["prompt", "dream"] = "prompt"
    # What a run missed while the laptop slept or the app was closed does: "once" runs it once
    # when the app is back ("pay the rent"), "skip" lets it pass and records it ("the standup
    # at 9" is useless three days late).
    catch_up: CatchUp = "once"
    last_missed: MissedRuns | None = None
    # Derived, kept so that a start with thousands of tasks needs no cron arithmetic: the next
    # slot, the time it is due (slot + jitter), and the zone they were computed in.
    next_slot_at: str | None = None
    next_due_at: str | None = None
    zone: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    def public(self) -> dict[str, Any]:
        """What CronList and `kairos tasks list` show."""
        data = self.to_doc()
        data.pop("zone", None)
        return data
