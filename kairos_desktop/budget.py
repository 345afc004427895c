"""The hard daily budget: before each model call, today's spend is compared with the cap.

Why local: an always-on agent's first failure is runaway cost while nobody watches, and an
account's spend cap comes too late (it is checked after the fact, per organisation). Here the
cap is `dailyBudgetUsd` (null: none) for the local day; at the cap `check()` raises
BudgetExceededError and no model call is made until local midnight, or until the user raises
today's cap (`raise_today`, the panel's button, `kairos budget raise`). The user is told once
at 80 % and once at the cap, by a message and a notification; telling is remembered in the
store, so a restart does not tell again.

One call can pass the cap (what it will cost is known only once it answered): the cap stops the
next call, never one already made.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal

from .clock import Clock
from .errors import InputError, KairosError
from .events import EventBus
from .store import Store
from .usage import UsageLedger

META = "meta"
KEY = "budget"
WARN_SHARE = 0.8

BudgetLevel = Literal["none", "ok", "warning", "reached"]
# Told (title, text): a message in the chat and a notification.
Tell = Callable[[str, str], Coroutine[Any, Any, Any]]


def usd(amount: float) -> str:
    return f"${amount:,.2f}"


class BudgetExceededError(KairosError):
    """Today's spend reached the daily budget: no model call until `reopens_at` or a raise."""

    def __init__(self, message: str, *, spent_usd: float, cap_usd: float,
                 reopens_at: datetime, reply: str = "") -> None:
        super().__init__(message)
        self.spent_usd = spent_usd
        self.cap_usd = cap_usd
        self.reopens_at = reopens_at
        self.reply = reply or message  # what a user's message gets meanwhile


@dataclass(frozen=True)
class BudgetState:
    date: str
    spent_usd: float
    cap_usd: float | None  # what applies today: the setting, or today's raise
    setting_usd: float | None  # dailyBudgetUsd
    raised: bool  # the user raised today's cap
    level: BudgetLevel
    resets_at: str  # the next local midnight

    @property
    def reached(self) -> bool:
        return self.level == "reached"

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date, "spentUsd": round(self.spent_usd, 4), "capUsd": self.cap_usd,
                "settingUsd": self.setting_usd, "raisedToday": self.raised, "state": self.level,
                "remainingUsd": None if self.cap_usd is None
                else round(max(self.cap_usd - self.spent_usd, 0.0), 4),
                "resetsAt": self.resets_at}


def next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=now.tzinfo)


class DailyBudget:
    """The guard of the usage ledger (usage.SpendGuard): `check()` before a call, `recorded()`
    after one."""

    def __init__(self, *, ledger: UsageLedger, store: Store, clock: Clock,
                 cap: Callable[[], float | None], bus: EventBus | None = None,
                 tell: Tell | None = None) -> None:
        self._ledger = ledger
        self._store = store
        self._clock = clock
        self._cap = cap  # dailyBudgetUsd, read at every use
        self._bus = bus
        self.tell = tell
        self._telling: set[asyncio.Task[Any]] = set()

    # -- the day's record in the store -------------------------------------------------------

    def _today(self) -> dict[str, Any]:
        day = self._clock.now().date().isoformat()
        docs = self._store.find(META, key=KEY)
        if docs and docs[0].get("date") == day:
            return dict(docs[0])
        return {"key": KEY, "date": day, "raisedTo": None, "warnedAt": None, "reachedAt": None}

    def _save(self, doc: dict[str, Any]) -> None:
        self._store.upsert(META, {k: v for k, v in doc.items() if k != "_id"}, key=KEY)

    # -- reads -------------------------------------------------------------------------------

    def state(self) -> BudgetState:
        now = self._clock.now()
        doc = self._today()
        setting = self._cap()
        raised = setting is not None and doc.get("raisedTo") is not None
        cap = float(doc["raisedTo"]) if raised else setting
        spent = self._ledger.spent(doc["date"])
        if cap is None:
            level: BudgetLevel = "none"
        elif spent >= cap:
            level = "reached"
        elif spent >= WARN_SHARE * cap:
            level = "warning"
        else:
            level = "ok"
        return BudgetState(doc["date"], spent, cap, setting, raised, level,
                           next_midnight(now).isoformat(timespec="seconds"))

    def reply_text(self, state: BudgetState | None = None) -> str:
        """What a user message gets while the budget is reached."""
        state = state or self.state()
        cap = state.cap_usd or 0.0
        which = "today's raised budget" if state.raised else "the daily budget"
        return (f"I have reached {which}: {usd(state.spent_usd)} spent of {usd(cap)} "
                "(setting dailyBudgetUsd), so I make no model call until midnight. Your message "
                "is kept and I will answer it then. To go on now, raise today's budget with the "
                f"panel's Raise budget button or `kairos budget raise {usd(cap * 2)[1:]}`; to "
                f"change it for every day, `kairos settings set dailyBudgetUsd {cap * 2:g}`. "
                "Scheduled reminders are still delivered as written.")

    # -- the guard ---------------------------------------------------------------------------

    def check(self) -> None:
        """Before a model call: BudgetExceededError at the cap."""
        state = self.state()
        if not state.reached:
            return
        assert state.cap_usd is not None
        raise BudgetExceededError(
            f"the daily budget is reached: {usd(state.spent_usd)} spent of "
            f"{usd(state.cap_usd)} (dailyBudgetUsd); no model call until midnight or until "
            "the budget is raised", spent_usd=state.spent_usd, cap_usd=state.cap_usd,
            reopens_at=datetime.fromisoformat(state.resets_at), reply=self.reply_text(state))

    def recorded(self) -> None:
        """After a model call was recorded: tell the user once at 80 % and once at the cap."""
        state = self.state()
        if state.level in ("none", "ok"):
            return
        doc = self._today()
        field = "reachedAt" if state.reached else "warnedAt"
        if doc.get(field) == state.cap_usd:
            return
        doc[field] = state.cap_usd
        if state.reached:
            doc["warnedAt"] = state.cap_usd  # no 80 % warning after the cap
        self._save(doc)
        self._publish(state)
        cap = state.cap_usd or 0.0
        if state.reached:
            title = "Daily budget reached"
            text = (f"Today's model spend reached {usd(state.spent_usd)} of the {usd(cap)} "
                    "daily budget (dailyBudgetUsd): no model call until midnight. Raise it in "
                    "the panel or with `kairos budget raise`.")
        else:
            title = "80% of the daily budget"
            text = (f"Today's model spend is {usd(state.spent_usd)}, "
                    f"{state.spent_usd / cap:.0%} of the {usd(cap)} daily budget "
                    f"(dailyBudgetUsd). At {usd(cap)} I stop making model calls until "
                    "midnight.")
        self._tell(title, text)

    def _tell(self, title: str, text: str) -> None:
        if self.tell is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        job: asyncio.Task[Any] = loop.create_task(self.tell(title, text))
        self._telling.add(job)
        job.add_done_callback(self._telling.discard)

    def _publish(self, state: BudgetState) -> None:
        if self._bus is not None:
            self._bus.publish("budget", **state.to_dict())

    # -- the user's action -------------------------------------------------------------------

    def raise_today(self, cap_usd: object) -> BudgetState:
        """Today's cap becomes `cap_usd` (until midnight; dailyBudgetUsd is unchanged).
        InputError (key "capUsd") when it is not a number above today's cap and spend."""
        if isinstance(cap_usd, bool) or not isinstance(cap_usd, (int, float)) \
                or not math.isfinite(cap_usd):
            raise InputError(f"capUsd must be an amount in US dollars such as 2.50, not "
                             f"{cap_usd!r}", key="capUsd")
        state = self.state()
        if state.cap_usd is None:
            raise InputError("there is no daily budget to raise (dailyBudgetUsd is null); set "
                             "one with `kairos settings set dailyBudgetUsd 1`", key="capUsd")
        floor = max(state.cap_usd, state.spent_usd)
        if cap_usd <= floor:
            raise InputError(f"capUsd must be more than {usd(floor)} (today's budget is "
                             f"{usd(state.cap_usd)} and {usd(state.spent_usd)} is spent); to "
                             "lower the budget, set dailyBudgetUsd", key="capUsd")
        doc = self._today()
        doc["raisedTo"] = float(cap_usd)
        self._save(doc)
        state = self.state()
        self._publish(state)
        return state


__all__ = ["BudgetExceededError", "BudgetState", "DailyBudget", "next_midnight", "usd"]
