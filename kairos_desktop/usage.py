"""What the model costs: every call's tokens and server-tool uses, priced from the price list
(prices.py), summed per day and model in the store's `usage` table (one small row per day and
model), and one line per agent turn in history/usage/YYYY-MM.jsonl (what grows with the
assistant's age stays out of the store).

The ledger is also the one gate every model call passes: the agent turn asks `check()` before
each call, and the guard it holds (the daily budget, budget.py) refuses a call at the cap.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from .atomic import append_bytes, repair_torn_tail
from .clock import Clock
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
    def __init__(self, store: Store, clock: Clock, history_dir: Path | None = None) -> None:
        self._store = store
        self._clock = clock
        self._history = history_dir  # history/usage: one line per turn; None: not kept
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

    def _month_file(self, day: date) -> Path | None:
        if self._history is None:
            return None
        return self._history / f"{day.year:04d}-{day.month:02d}.jsonl"

    def record_turn(self, turn: dict[str, Any]) -> None:
        """One line for a finished (or abandoned) agent turn: when, who ran it, its calls, its
        cost and the tools it used. Appended; a torn last line is moved aside first."""
        now = self._clock.now()
        path = self._month_file(now.date())
        if path is None:
            return
        line = {"at": now.isoformat(timespec="seconds"), "date": now.date().isoformat(), **turn}
        repair_torn_tail(path)
        append_bytes(path, (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))

    def turns(self, day: date | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """The turns of `day` (default today), newest first, at most `limit`."""
        day = day or self._clock.now().date()
        path = self._month_file(day)
        if path is None or not path.exists():
            return []
        wanted = day.isoformat()
        found: list[dict[str, Any]] = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and row.get("date") == wanted:
                found.append(row)
        return list(reversed(found))[:limit]


__all__ = ["SpendGuard", "UsageLedger", "estimate_cost"]
