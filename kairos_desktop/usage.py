"""What the model costs: every call's tokens and server-tool uses, priced from the price list
(prices.py), summed per day and model in the store's `usage` table (one small row per day and
model), and one record per agent turn in the usage history, history/usage/YYYY-MM.jsonl (what
grows with the assistant's age stays out of the store).

The ledger is also the one gate every model call passes: the agent turn asks `check()` before
each call, and the guard it holds (the daily budget, budget.py) refuses a call at the cap.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Protocol

from .clock import Clock
from .history import History
from .model_types import Usage
from .prices import call_cost, lookup
from .store import Store

TABLE = "usage"
COUNTERS = ("calls", "input", "output", "cacheRead", "cacheWrite", "webSearches", "webFetches")


class SpendGuard(Protocol):
    def check(self) -> None:
        """Raise (BudgetExceededError) when no model call may be made now."""

    def recorded(self) -> None:
        """A call was just recorded (the budget tells the user when it crossed a mark)."""


def estimate_cost(model: str, usage: Usage, *, cache_ttl: str = "5m") -> float:
    """USD for one call (see prices.call_cost)."""
    return call_cost(model, usage, cache_ttl=cache_ttl)


def _counts(usage: Usage) -> dict[str, int]:
    return {"calls": 1, "input": usage.input_tokens, "output": usage.output_tokens,
            "cacheRead": usage.cache_read_tokens, "cacheWrite": usage.cache_write_tokens,
            "webSearches": usage.web_search_requests, "webFetches": usage.web_fetch_requests}


class UsageLedger:
    def __init__(self, store: Store, clock: Clock, history: History | None = None) -> None:
        self._store = store
        self._clock = clock
        self._history = history  # the turns (kind "usage"); None: not kept
        self.guard: SpendGuard | None = None

    def check(self) -> None:
        """Before a model call: raises what the guard raises (the daily budget at its cap)."""
        if self.guard is not None:
            self.guard.check()

    def record(self, model: str, usage: Usage, *, cache_ttl: str) -> float:
        """Add one call to today's row for `model`; returns what it cost (USD)."""
        day = self._clock.now().date().isoformat()
        cost = estimate_cost(model, usage, cache_ttl=cache_ttl)
        counts = _counts(usage)

        def add(db: Any) -> None:
            table = db.table(TABLE, cache_size=0)
            docs = table.search(lambda d: d.get("date") == day and d.get("model") == model)
            doc: dict[str, Any] = dict(docs[0]) if docs else {
                "date": day, "model": model, "costUsd": 0.0}
            for key, value in counts.items():
                doc[key] = doc.get(key, 0) + value
            doc["costUsd"] = round(doc["costUsd"] + cost, 6)
            doc["pricedAs"] = lookup(model).price.model
            if docs:
                table.update(doc, doc_ids=[docs[0].doc_id])
            else:
                table.insert(doc)

        self._store.transact(add)
        if self.guard is not None:
            self.guard.recorded()
        return cost

    def spent(self, day: str | None = None) -> float:
        """USD spent on `day` (default today), unrounded: what the budget compares."""
        day = day or self._clock.now().date().isoformat()
        return sum(float(d.get("costUsd", 0.0)) for d in self._store.find(TABLE, date=day))

    def day(self, day: str | None = None) -> dict[str, Any]:
        day = day or self._clock.now().date().isoformat()
        total: dict[str, Any] = {"date": day, **dict.fromkeys(COUNTERS, 0), "costUsd": 0.0,
                                 "models": []}
        for doc in self._store.find(TABLE, date=day):
            for key in COUNTERS:
                total[key] += doc.get(key, 0)
            total["costUsd"] += doc.get("costUsd", 0.0)
            total["models"].append(doc["model"])
        total["costUsd"] = round(total["costUsd"], 4)
        return total

    def days(self) -> list[dict[str, Any]]:
        dates = sorted({d["date"] for d in self._store.all(TABLE)})
        return [self.day(d) for d in dates]

    # -- turns -------------------------------------------------------------------------------

    def record_turn(self, turn: dict[str, Any]) -> None:
        """One record for a finished (or abandoned) agent turn: when, who ran it, its calls,
        its cost and the tools it used."""
        if self._history is None:
            return
        now = self._clock.now()
        stamp = now.isoformat(timespec="seconds")
        self._history.append({"id": f"turn-{uuid.uuid4().hex[:12]}", "at": stamp,
                              "date": now.date().isoformat(), **turn}, month=stamp[:7])

    def turns(self, day: date | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """The turns of `day` (default today), newest first, at most `limit`."""
        if self._history is None:
            return []
        wanted = (day or self._clock.now().date()).isoformat()
        found = [r for r in self._history.month(wanted[:7]) if r.get("date") == wanted]
        return list(reversed(found))[:limit]


__all__ = ["SpendGuard", "UsageLedger", "estimate_cost"]
