"""Active session-days: one record per (session, day) with a stored turn, which autoDream's
"sessions since the last consolidation" gate counts. Kept in an append-only history
(history/activity/YYYY-MM.jsonl), not the store: it grows by a row a day for as long as the
assistant lives, and the gate only reads the months since the last consolidation."""

from __future__ import annotations

from datetime import date

from ..store import Store

KIND = "activity"
TABLE = "activity"  # where store.json held them before (migration.py moves them)


def activity_id(session: str, day: str) -> str:
    return f"{day}:{session}"


class Activity:
    def __init__(self, store: Store) -> None:
        self._history = store.history(KIND)

    def record(self, session: str | None, day: date | str) -> bool:
        """Note that `session` was active on `day`; False when it already was."""
        session = session or ""
        day = day if isinstance(day, str) else day.isoformat()
        key = activity_id(session, day)
        if any(r["id"] == key for r in self._history.month(day[:7])):
            return False
        self._history.append({"id": key, "session": session, "date": day}, month=day[:7])
        return True

    def sessions_since(self, since: str = "") -> int:
        """Active (session, day) pairs on days after `since` (an ISO date; "" counts all),
        reading only the months from `since`'s on."""
        seen: set[str] = set()
        for month in self._history.months():
            if month < since[:7]:
                continue
            seen.update(r["id"] for r in self._history.month(month) if str(r.get("date")) > since)
        return len(seen)

    def rows(self) -> list[dict[str, str]]:
        """Every (session, day), oldest first (for tests and exports)."""
        return [{"session": r["session"], "date": r["date"]} for r in self._history.all()]
