"""The scheduler's runtime: one timer for the earliest due task, fires into the inbound queue.

Invariants:
- A heap orders tasks by due time; the loop waits until the earliest is due (or 60 s, to notice a
  wall-clock jump after the machine slept: monotonic time stands still during suspend).
- Firing writes the task's new lastFiredAt (or removes a one-shot) and queues the prompt in ONE
  store transaction, before the loop can hand anything to the model: a crash either loses
  neither or keeps both, so a task never fires twice.
- Whatever was missed (app closed, machine asleep) fires once per task, marked as a catch-up;
  a task whose catchUp is "skip" lets it pass instead, and says so on the task and in the log.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from tinydb import TinyDB

from ..clock import Clock, seconds_between, zone_name
from ..errors import InputError, InvalidCronError, TaskLimitError, TaskNotFoundError
from ..events import EventBus
from ..journal import DailyLog
from ..queue import InboundItem, InboundQueue
from ..settings import Settings
from ..store import Store
from .builtins import BUILTINS
from .rules import due_time, expires_at, missed_slots, validate_cron
from .task import CATCH_UP_CHOICES, CatchUp, CronTask, MissedRuns

log = logging.getLogger(__name__)

TABLE = "scheduled_tasks"
META = "meta"
CHECK_INTERVAL_S = 60.0  # the longest wait: bounds how late a catch-up is after a resume
CATCH_UP_AFTER_S = 120.0  # fired later than this past its due time = a catch-up
CLOCK_JUMP_S = 30.0

DreamHandler = Callable[[CronTask], Coroutine[Any, Any, None]]


@dataclass
class _Fire:
    task: CronTask  # the task as it is after this fire
    done: bool  # one-shot or expired: removed
    item: InboundItem | None  # the prompt for the model (None: the dream trigger, or skipped)
    catch_up: bool
    note: str
    skipped: int = 0  # catchUp "skip": the runs let pass (nothing runs)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class Scheduler:
    def __init__(self, *, store: Store, clock: Clock, settings: Callable[[], Settings],
                 zone: tzinfo, queue: InboundQueue | None = None,
                 daily_log: DailyLog | None = None, bus: EventBus | None = None,
                 fire_disabled: bool = False, durable_fire_disabled: bool = False) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self.zone = zone
        self._queue = queue
        self._log = daily_log
        self._bus = bus
        self.fire_disabled = fire_disabled
        self.paused = False  # held, not skipped: resuming fires what came due meanwhile
        self.durable_fire_disabled = durable_fire_disabled
        self.on_dream: DreamHandler | None = None
        self._tasks: dict[str, CronTask] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self._stopping = False
        self._dream_tasks: set[asyncio.Task[None]] = set()

    # -- loading -----------------------------------------------------------------------------

    def load(self, *, seed_builtins: bool = True) -> None:
        """Read durable tasks, fill in derived due times where missing (or computed in another
        zone), and write the built-ins that were never seeded."""
        stale: list[CronTask] = []
        zone = zone_name(self.zone)
        for doc in self._store.all(TABLE):
            task = CronTask.model_validate(doc)
            if task.next_due_at is None or task.zone != zone:
                self._derive(task)
                stale.append(task)
            self._tasks[task.id] = task
            self._push(task)
        if stale:
            self._store.transact(lambda db: self._write_many(db, stale, removed=set()))
        if seed_builtins:
            self._seed_builtins()

    def _seed_builtins(self) -> None:
        seeded_docs = self._store.find(META, key="builtinsSeeded")
        seeded = set(seeded_docs[0]["names"]) if seeded_docs else set()
        missing = [b for b in BUILTINS if b.name not in seeded]
        if not missing:
            return
        now = self._clock.now()
        created = []
        for builtin in missing:
            task = CronTask(cron=builtin.cron, prompt=builtin.prompt, created_at=_iso(now),
                            recurring=True, permanent=True, durable=True, builtin=builtin.name,
                            action=builtin.action, id=builtin.name)
            self._derive(task)
            created.append(task)
        names = sorted(seeded | {b.name for b in missing})

        def write(db: TinyDB) -> None:
            for task in created:
                db.table(TABLE, cache_size=0).insert(task.to_doc())
            db.table(META, cache_size=0).upsert({"key": "builtinsSeeded", "names": names},
                                                lambda d: d.get("key") == "builtinsSeeded")

        self._store.transact(write)
        for task in created:
            self._tasks[task.id] = task
            self._push(task)

    # -- derived times and the heap ----------------------------------------------------------

    def _parse(self, text: str) -> datetime:
        return datetime.fromisoformat(text).astimezone(self.zone)

    def _derive(self, task: CronTask, anchor: datetime | None = None) -> None:
        if anchor is None:
            anchor = self._parse(task.last_fired_at or task.created_at)
        slot, due = due_time(task.id, task.cron, recurring=task.recurring,
                             anchor=anchor.astimezone(self.zone))
        task.next_slot_at, task.next_due_at = _iso(slot), _iso(due)
        task.zone = zone_name(self.zone)

    def _push(self, task: CronTask) -> None:
        assert task.next_due_at is not None
        if task.durable and self.durable_fire_disabled:
            return  # never due in this run; they catch up once durable tasks are enabled again
        due = datetime.fromisoformat(task.next_due_at).timestamp()
        heapq.heappush(self._heap, (due, next(self._seq), task.id))

    def next_due(self) -> tuple[datetime, CronTask] | None:
        """The earliest due task (stale heap entries are dropped as they surface). The task is
        the scheduler's own object: read it, do not change it."""
        while self._heap:
            due_ts, _, task_id = self._heap[0]
            task = self._tasks.get(task_id)
            if task is None or task.next_due_at is None or \
                    datetime.fromisoformat(task.next_due_at).timestamp() != due_ts:
                heapq.heappop(self._heap)
                continue
            return datetime.fromtimestamp(due_ts, UTC).astimezone(self.zone), task
        return None

    # -- what the model and the user do ------------------------------------------------------

    # Public methods hand out copies: the scheduler's own tasks change only through it.

    def tasks(self) -> list[CronTask]:
        ordered = sorted(self._tasks.values(), key=lambda t: datetime.fromisoformat(
            t.next_due_at).timestamp() if t.next_due_at else 0.0)
        return [t.model_copy() for t in ordered]

    def get(self, task_id: str) -> CronTask | None:
        task = self._tasks.get(task_id)
        return task.model_copy() if task is not None else None

    def create(self, cron: str, prompt: str, *, recurring: bool, durable: bool,
               permanent: bool = False, catch_up: CatchUp = "once") -> CronTask:
        expr = validate_cron(cron)
        if not prompt or not prompt.strip():
            raise InvalidCronError("a task needs a prompt: what should happen when it fires")
        if catch_up not in CATCH_UP_CHOICES:
            raise InputError(f'catchUp must be "once" (a missed run runs once when the app is '
                             f'back) or "skip" (it is let pass, and recorded), not {catch_up!r}',
                             key="catchUp")
        limit = self._settings().max_scheduled_tasks
        own = sum(1 for t in self._tasks.values() if t.builtin is None)
        if own >= limit:
            raise TaskLimitError(
                f"there are already {own} scheduled tasks, the limit (setting "
                f"maxScheduledTasks is {limit}); delete one first (CronList shows them)")
        task = CronTask(cron=expr, prompt=prompt.strip(), created_at=_iso(self._clock.now()),
                        recurring=recurring, durable=durable, permanent=permanent,
                        catch_up=catch_up)
        self._derive(task)
        if durable:
            self._store.insert(TABLE, task.to_doc())
        self._tasks[task.id] = task
        self._push(task)
        self._note("task created", f"{task.id} `{task.cron}` ({_kind(task)}): {task.prompt}")
        self._changed.set()
        self._publish(created=task.id)
        return task.model_copy()

    def delete(self, task_id: str) -> CronTask:
        task = self._tasks.get(task_id)
        if task is None:
            known = ", ".join(sorted(self._tasks)) or "none"
            raise TaskNotFoundError(f"no task with id {task_id!r} (tasks: {known})")
        if task.durable:
            self._store.remove(TABLE, id=task_id)
        del self._tasks[task_id]
        self._note("task deleted", f"{task_id} `{task.cron}`: {task.prompt}")
        self._changed.set()
        self._publish(deleted=task_id)
        return task

    # -- firing ------------------------------------------------------------------------------

    def fire_due(self) -> list[str]:
        """Fire every task that is due now, all in ONE store transaction; returns their ids."""
        if self.fire_disabled or self.paused:
            return []
        now = self._clock.now()
        plans: list[_Fire] = []
        while (entry := self.next_due()) is not None and entry[0] <= now:
            due, task = entry
            heapq.heappop(self._heap)
            try:
                plans.append(self._plan(task, due, now))
            except Exception as exc:  # skip this slot rather than retry it in a hot loop
                log.exception("task %s failed to fire", task.id)
                self._note("error", f"task {task.id} could not fire: {exc!r}; skipping to its "
                           "next slot")
                if task.recurring:
                    self._derive(task, anchor=now)
                    self._push(task)
        if not plans:
            return []
        durable = [p for p in plans if p.task.durable]

        def writes(db: TinyDB) -> None:
            self._write_many(db, [p.task for p in durable if not p.done],
                             removed={p.task.id for p in durable})

        items = [p.item for p in plans if p.item is not None]
        if items and self._queue is not None:
            self._queue.put_many(items, with_writes=writes)
        else:
            self._store.transact(writes)
        for plan in plans:
            self._note("missed" if plan.skipped else "task fired", plan.note)
            if plan.done:
                self._tasks.pop(plan.task.id, None)
            else:
                self._tasks[plan.task.id] = plan.task
                self._push(plan.task)
            if plan.task.action == "dream" and not plan.skipped:
                self._start_dream(plan.task)
            if self._bus is not None:
                self._bus.publish("task", id=plan.task.id, fired=not plan.skipped,
                                  catchUp=plan.catch_up, done=plan.done, missed=plan.skipped)
        if any(p.skipped for p in plans):
            self._publish(missed=",".join(p.task.id for p in plans if p.skipped))
        return [p.task.id for p in plans if not p.skipped]

    def _plan(self, current: CronTask, due: datetime, now: datetime) -> _Fire:
        """What firing `current` changes: computed on a copy, applied after the commit."""
        task = current.model_copy()
        settings = self._settings()
        slot_at = task.next_slot_at
        catch_up = seconds_between(due, now) > CATCH_UP_AFTER_S
        anchor = self._parse(task.last_fired_at or task.created_at)
        if task.last_missed is not None:  # slots let pass before are not missed again
            anchor = max(anchor, self._parse(task.last_missed.at))
        missed = missed_slots(task.cron, anchor, now) if catch_up and task.recurring else 1
        if catch_up and task.catch_up == "skip":
            return self._skip(task, due, now, anchor, max(missed, 1))
        expiring = (task.recurring and not task.permanent and
                    now >= expires_at(self._parse(task.created_at), settings.recurring_max_age_ms))
        done = not task.recurring or expiring
        notes = []
        if catch_up:
            what = (f"missed {missed} run(s) since {_iso(anchor)}; running once now"
                    if task.recurring else f"was due at {slot_at}")
            notes.append(f"[catch-up: {what}; the computer was asleep or kairos was not running]")
        if expiring:
            days = settings.recurring_max_age_ms / 86_400_000
            notes.append(f"[last run: recurring tasks expire after {days:g} days; this one is "
                         "now deleted. Tell the user, and create it again if they want it kept.]")
        task.last_fired_at = _iso(now)
        if not done:
            self._derive(task, anchor=now)
        item = None
        if task.action == "prompt":
            item = InboundItem(
                kind="cron", text="\n".join([task.prompt, *notes]), priority="next",
                source=f"task:{task.id}", created_at=_iso(now),
                meta={"taskId": task.id, "dueAt": slot_at, "catchUp": catch_up},
                id=f"cron-{task.id}-{int(due.timestamp())}")
        note = (f"{task.id} `{task.cron}` due {_iso(due)}" + (" (catch-up)" if catch_up else "")
                + (" (last run)" if expiring else ""))
        return _Fire(task, done, item, catch_up, note)

    def _skip(self, task: CronTask, due: datetime, now: datetime, since: datetime,
              missed: int) -> _Fire:
        """catchUp "skip": nothing runs; the gap is recorded on the task and in the log."""
        runs = "1 run" if missed == 1 else f"{missed} runs"
        text = f"missed {runs} while the laptop slept or kairos was closed"
        task.last_missed = MissedRuns(count=missed, since=_iso(since), at=_iso(now), text=text)
        settings = self._settings()
        expiring = (task.recurring and not task.permanent and
                    now >= expires_at(self._parse(task.created_at), settings.recurring_max_age_ms))
        done = not task.recurring or expiring
        if not done:
            self._derive(task, anchor=now)
        then = "removed (one-shot)" if not task.recurring else (
            "expired and removed" if expiring else f"next run {task.next_due_at}")
        note = (f"{task.id} `{task.cron}`: {text} (since {_iso(since)}; catchUp is skip, so "
                f"it did not run); {then}: {task.prompt[:80]}")
        return _Fire(task, done, None, True, note, skipped=missed)

    def _write_many(self, db: TinyDB, tasks: list[CronTask], *, removed: set[str]) -> None:
        """Replace (or drop) several task docs in one pass over the table."""
        table = db.table(TABLE, cache_size=0)
        gone = removed | {t.id for t in tasks}
        if gone:
            table.remove(lambda d: d.get("id") in gone)
        if tasks:
            table.insert_multiple(t.to_doc() for t in tasks)

    def _start_dream(self, task: CronTask) -> None:
        if self.on_dream is None:
            self._note("dream", "the nightly dream trigger fired; autoDream is not available "
                       "in this build, nothing ran")
            return
        job = asyncio.get_running_loop().create_task(self.on_dream(task))
        self._dream_tasks.add(job)
        job.add_done_callback(self._dream_tasks.discard)

    # -- the timer ---------------------------------------------------------------------------

    async def run(self) -> None:
        self._changed = asyncio.Event()
        if self.fire_disabled:
            self._note("scheduler", "KAIROS_DISABLE_CRON is set: no task will fire")
            return
        if self.durable_fire_disabled:
            self._note("scheduler", "KAIROS_DISABLE_DURABLE_CRON is set: durable tasks will not "
                       "fire (session-only tasks still do)")
        wall, mono = self._clock.now(), self._clock.monotonic()
        while not self._stopping:
            now, now_mono = self._clock.now(), self._clock.monotonic()
            drift = seconds_between(wall, now) - (now_mono - mono)
            if abs(drift) > CLOCK_JUMP_S:
                self._note("scheduler", f"the wall clock jumped {drift:+.0f} s (the computer "
                           "slept or the time was changed); catching up")
            wall, mono = now, now_mono
            self.fire_due()
            entry = None if self.paused else self.next_due()
            timeout = CHECK_INTERVAL_S
            if entry is not None:
                timeout = min(max(seconds_between(self._clock.now(), entry[0]), 0.0),
                              CHECK_INTERVAL_S)
            if timeout > 0:
                await self._clock.wait(self._changed, timeout)
            self._changed.clear()

    def stop(self) -> None:
        self._stopping = True
        self._changed.set()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self._changed.set()

    def _publish(self, **data: str) -> None:
        """The scheduler owns the tasks, so it tells every front end when they change, whoever
        changed them (the model's CronCreate, the panel, the CLI)."""
        if self._bus is not None:
            self._bus.publish("tasks", **data)

    def _note(self, kind: str, text: str) -> None:
        log.info("%s: %s", kind, text)
        if self._log is not None:
            self._log.append(kind, text)


def _kind(task: CronTask) -> str:
    parts = ["recurring" if task.recurring else "one-shot",
             "durable" if task.durable else "session-only"]
    if task.permanent:
        parts.append("permanent")
    return ", ".join(parts)
