"""The tray at the daily budget's cap: the paused icon, and a tooltip that says why and what
to do (no display needed)."""

from __future__ import annotations

from kairos_desktop.desktop.trayview import view_from_status


def test_at_the_budget_the_tray_says_so() -> None:
    status = {"state": "budget", "sleepingUntil": "2026-11-23T00:00:00+01:00",
              "dream": {"running": False},
              "budget": {"state": "reached", "spentUsd": 1.0213, "capUsd": 1.0}}
    view = view_from_status(status, name="Ava", paused=False, recent=[], attention=False)
    assert view.state == "paused"
    assert view.detail == ("daily budget reached ($1.02 of $1.00): no model call until "
                           "midnight; raise it in the panel")
