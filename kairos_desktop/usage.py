"""What the model costs: every call's tokens and server-tool uses, priced from the price list
(prices.py), summed per day and model in the store's `usage` table (one small row per day and
model), and one record per agent turn in the usage history, history/usage/YYYY-MM.jsonl (what
grows with the assistant's age stays out of the store). The store keeps today's rows only, what
the budget reads before every call; the first call of a day moves the earlier days' rows to
history/usage_days/ (ids "<date>:<model>": a row moved twice after a crash reads once).

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
DAYS_KIND = "usage_days"
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
    def __init__(self, store: Store, clock: Clock, history: History | None = None, *,
                 days: History | None = None) -> None:
        self._store = store
        self._clock = clock
        self._history = history  # the turns (kind "usage"); None: not kept
        self._days = days  # past days' rows (kind "usage_days"); None: they stay in the store
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
            self._move_past_days(table, day)
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

    def _move_past_days(self, table: Any, today: str) -> None:
        """Inside the store transaction of a call: rows of days before `today` go to the days'
        history (written first: a crash before the store's write leaves them in both places,
        and reads count each id once)."""
        if self._days is None:
            return
        past = table.search(lambda d: str(d.get("date", "")) < today)
        if not past:
            return
        by_month: dict[str, list[dict[str, Any]]] = {}
        for doc in past:
            row = day_row(dict(doc))
            by_month.setdefault(row["date"][:7], []).append(row)
        for month, rows in sorted(by_month.items()):
            self._days.append_many(rows, month=month)
        table.remove(doc_ids=[doc.doc_id for doc in past])

    def _rows(self, day: str) -> list[dict[str, Any]]:
        """The rows of `day`: the store's (today's), else the days' history's."""
        rows = {r["id"]: r for r in (day_row(d) for d in self._store.find(TABLE, date=day))}
        if self._days is not None and day < self._clock.now().date().isoformat():
            for row in self._days.month(day[:7]):
                if row.get("date") == day:
                    rows.setdefault(row["id"], row)
        return list(rows.values())

    def spent(self, day: str | None = None) -> float:
        """USD spent on `day` (default today), unrounded: what the budget compares."""
        day = day or self._clock.now().date().isoformat()
        return sum(float(d.get("costUsd", 0.0)) for d in self._rows(day))

    def day(self, day: str | None = None) -> dict[str, Any]:
        day = day or self._clock.now().date().isoformat()
        return _total(day, self._rows(day))

    def days(self) -> list[dict[str, Any]]:
        """Every day with usage, oldest first (reads the whole days' history: one small row
        per day and model)."""
        rows: dict[str, dict[str, Any]] = {}
        if self._days is not None:
            rows.update((r["id"], r) for r in self._days.all())
        rows.update((r["id"], r) for r in (day_row(d) for d in self._store.all(TABLE)))
        by_date: dict[str, list[dict[str, Any]]] = {}
        for row in rows.values():
            by_date.setdefault(str(row["date"]), []).append(row)
        return [_total(date_, by_date[date_]) for date_ in sorted(by_date)]

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


def day_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A store row as the days' history keeps it: with its id, "<date>:<model>"."""
    row = {k: v for k, v in doc.items() if k != "_id"}
    row["id"] = f"{row.get('date')}:{row.get('model')}"
    return row


def _total(day: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"date": day, **dict.fromkeys(COUNTERS, 0), "costUsd": 0.0,
                             "models": []}
    for doc in rows:
        for key in COUNTERS:
            total[key] += doc.get(key, 0)
        total["costUsd"] += doc.get("costUsd", 0.0)
        total["models"].append(doc["model"])
    total["costUsd"] = round(total["costUsd"], 4)
    return total


__all__ = ["SpendGuard", "UsageLedger", "day_row", "estimate_cost"]
