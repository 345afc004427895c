"""What the tray shows, computed from the application API's status: no display needed."""

from __future__ import annotations

from kairos_desktop.desktop.trayview import menu, view_from_status

SLEEPING = {"state": "sleeping", "sleepingUntil": "2026-11-22T09:40:00+01:00",
            "dream": {"running": False}}


def test_the_tooltip_says_when_the_next_wake_is() -> None:
    view = view_from_status(SLEEPING, name="Ava", paused=False, recent=[], attention=False)
    assert view.tooltip == "Ava: sleeping (next wake 09:40)"


def test_held_notifications_show_in_the_tooltip() -> None:
    status = {**SLEEPING, "notificationsHeld": {"count": 2, "until": "2026-11-22T09:52:00+01:00",
                                                "reason": "more than 3 in 10 min"}}
    view = view_from_status(status, name="Ava", paused=False, recent=[], attention=False)
    assert view.detail == "next wake 09:40; 2 notifications held until 09:52"


def test_the_menu_follows_the_name_the_pause_and_the_inbox() -> None:
    recent = [{"id": "a1", "title": "Weekly\nreport", "read": False},
              {"id": "b2", "name": "notes.md", "read": True}]
    view = view_from_status({**SLEEPING, "state": "paused"}, name="Ava", paused=True,
                            recent=recent, attention=False)
    entries = {e.key: e for e in menu(view)}
    assert entries["open"].label == "Open Ava"
    assert entries["pause"].checked is True and entries["wake"].enabled is False
    inbox = [e.label for e in entries["inbox"].children or ()]
    assert inbox == ["• Weekly report", "notes.md", "", "Open inbox folder"]
    assert view.tooltip_title == "Ava: paused"
    empty = view_from_status(SLEEPING, name="Ava", paused=False, recent=[], attention=False)
    assert [e.label for e in {e.key: e for e in menu(empty)}["inbox"].children or ()] == [
        "No files yet", "Open inbox folder"]
