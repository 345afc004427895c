"""What the model costs: tokens of every call recorded per day (input, output, cache read, cache
write), and an estimate in dollars from list prices. Stored in the store's `usage` table."""

from __future__ import annotations

from typing import Any

from .clock import Clock
from .model_types import Usage
from .store import Store

TABLE = "usage"

# USD per million tokens: (input, output). Cache reads cost 0.1x input; cache writes 1.25x (5 min
# TTL) or 2x (1 h TTL) input. An estimate for the user, not a bill.
PRICES = {"opus": (5.0, 25.0), "sonnet": (3.0, 15.0), "haiku": (1.0, 5.0)}


def price_for(model: str) -> tuple[float, float]:
    for family, price in PRICES.items():
        if family in model:
            return price
    return PRICES["sonnet"]


def estimate_cost(model: str, usage: Usage, *, cache_ttl: str = "1h") -> float:
    inp, out = price_for(model)
    write_factor = 2.0 if cache_ttl == "1h" else 1.25
    return (usage.input_tokens * inp + usage.output_tokens * out
            + usage.cache_read_tokens * inp * 0.1
            + usage.cache_write_tokens * inp * write_factor) / 1_000_000


class UsageLedger:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def record(self, model: str, usage: Usage, *, cache_ttl: str) -> None:
        day = self._clock.now().date().isoformat()
        cost = estimate_cost(model, usage, cache_ttl=cache_ttl)

        def add(db: Any) -> None:
            table = db.table(TABLE, cache_size=0)
            docs = table.search(lambda d: d.get("date") == day and d.get("model") == model)
            doc: dict[str, Any] = dict(docs[0]) if docs else {
                "date": day, "model": model, "calls": 0, "input": 0, "output": 0,
                "cacheRead": 0, "cacheWrite": 0, "costUsd": 0.0}
            doc["calls"] += 1
            doc["input"] += usage.input_tokens
            doc["output"] += usage.output_tokens
            doc["cacheRead"] += usage.cache_read_tokens
            doc["cacheWrite"] += usage.cache_write_tokens
            doc["costUsd"] = round(doc["costUsd"] + cost, 6)
            if docs:
                table.update(doc, doc_ids=[docs[0].doc_id])
            else:
                table.insert(doc)

        self._store.transact(add)

    def day(self, day: str | None = None) -> dict[str, Any]:
        day = day or self._clock.now().date().isoformat()
        total: dict[str, Any] = {"date": day, "calls": 0, "input": 0, "output": 0, "cacheRead": 0,
                 "cacheWrite": 0, "costUsd": 0.0}
        for doc in self._store.find(TABLE, date=day):
            for key in ("calls", "input", "output", "cacheRead", "cacheWrite", "costUsd"):
                total[key] += doc[key]
        total["costUsd"] = round(total["costUsd"], 4)
        return total

    def days(self) -> list[dict[str, Any]]:
        dates = sorted({d["date"] for d in self._store.all(TABLE)})
        return [self.day(d) for d in dates]
