"""History files: append-only monthly JSONL, read newest page first, patches merged, a bad line
reported and skipped, a torn tail kept aside."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from kairos_desktop.history import History, month_of


@pytest.fixture
def messages(tmp_path: Path) -> History:
    history = History(tmp_path / "history", "messages")
    for n in range(30):
        month = f"2026-{1 + n // 10:02d}"
        history.append({"id": f"m{n}", "text": f"message {n}", "createdAt": f"{month}-05"},
                       month=month)
    return history


def test_the_newest_page_reads_only_the_months_it_needs(messages: History) -> None:
    page = messages.newest(5)
    assert [r["id"] for r in page] == ["m25", "m26", "m27", "m28", "m29"]  # newest last
    (messages.path_for("2026-01")).write_text("{broken\n")  # never read for this page
    assert [r["id"] for r in messages.newest(12)][:2] == ["m18", "m19"]
    assert messages.problems == []


def test_a_page_crosses_months_in_order(messages: History) -> None:
    assert [r["id"] for r in messages.newest(13)] == [f"m{n}" for n in range(17, 30)]
    assert [r["id"] for r in messages.all()] == [f"m{n}" for n in range(30)]
    assert messages.months() == ["2026-01", "2026-02", "2026-03"]


def test_a_patch_changes_a_record_when_read_and_the_last_patch_wins(messages: History) -> None:
    messages.patch("m3", {"read": True}, month="2026-03")
    messages.patch("m3", {"read": False, "note": "again"}, month="2026-03")
    messages.patch("m3", {"read": True}, month="2026-03")
    found = messages.find("m3")
    assert found == {"id": "m3", "text": "message 3", "createdAt": "2026-01-05",
                     "read": True, "note": "again"}
    assert next(r for r in messages.all() if r["id"] == "m3") == found
    assert len(messages.newest(100)) == 30  # patches are not records


def test_a_bad_line_is_reported_with_its_path_and_skipped(
        messages: History, caplog: pytest.LogCaptureFixture) -> None:
    path = messages.path_for("2026-02")
    lines = path.read_text().splitlines()
    lines[3] = '{"id": "m13", "text": "cut'
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        ids = [r["id"] for r in messages.all()]
    assert "m13" not in ids and "m14" in ids and len(ids) == 29
    assert [str(p) for p in messages.problems] == [
        f"{path}:4: not a JSON record (JSONDecodeError)"]
    assert f"{path}:4" in caplog.text


def test_a_torn_tail_is_kept_aside_and_the_next_record_is_whole(messages: History) -> None:
    path = messages.path_for("2026-03")
    with open(path, "ab") as handle:
        handle.write(b'{"id": "m30", "te')  # a crash mid-write
    assert [r["id"] for r in messages.newest(1)] == ["m29"]
    messages.append({"id": "m31", "text": "after the crash"}, month="2026-03")
    assert [r["id"] for r in messages.newest(2)] == ["m29", "m31"]
    assert path.with_name(path.name + ".torn").read_bytes().startswith(b'{"id": "m30"')
    assert messages.problems == []


def test_history_files_are_private(messages: History) -> None:
    path = messages.path_for("2026-01")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_empty_history_reads_as_empty(tmp_path: Path) -> None:
    history = History(tmp_path / "history", "dreams")
    assert history.newest(10) == [] and list(history.all()) == [] and history.months() == []
    assert history.find("x") is None


def test_month_of_an_iso_stamp() -> None:
    assert month_of("2026-11-22T09:00:00+01:00") == "2026-11"


def test_a_read_after_an_append_sees_it_and_a_replaced_file_is_read_afresh(
        messages: History) -> None:
    assert messages.newest(1)[0]["id"] == "m29"  # parsed and kept
    messages.append({"id": "m30", "text": "new"}, month="2026-03")
    assert [r["id"] for r in messages.newest(2)] == ["m29", "m30"]
    path = messages.path_for("2026-03")
    path.with_name("x").write_text('{"id": "only"}\n')
    path.with_name("x").replace(path)  # another file in its place: not the one read before
    assert [r["id"] for r in messages.newest(1)] == ["only"]


def test_update_patches_the_record_in_its_own_month(messages: History) -> None:
    assert messages.update("m3", {"read": True}) == {
        "id": "m3", "text": "message 3", "createdAt": "2026-01-05", "read": True}
    assert '"patch":"m3"' in messages.path_for("2026-01").read_text()
    size = messages.path_for("2026-01").stat().st_size
    assert messages.update("m3", {"read": True}) is not None  # already so: nothing written
    assert messages.path_for("2026-01").stat().st_size == size
    assert messages.update("nope", {"read": True}) is None
    assert messages.month("2026-01")[3]["read"] is True  # the month alone is whole


def test_pages_oldest_first_cover_every_record_once(messages: History) -> None:
    seen, after = [], None
    while True:
        page, after = messages.page(after, 7)
        seen += [r["id"] for r in page]
        if after is None:
            break
    assert seen == [f"m{n}" for n in range(30)]
    assert [r["id"] for r in messages.newest(3, until="2026-02")] == ["m17", "m18", "m19"]
    with pytest.raises(ValueError, match="not a page cursor"):
        messages.page("page 2", 7)


def test_a_bad_line_is_told_once(messages: History) -> None:
    told = []
    messages.on_problem = told.append
    path = messages.path_for("2026-01")
    path.write_text(path.read_text() + "{cut\n")
    list(messages.all())
    list(messages.all())
    assert [str(p) for p in told] == [f"{path}:11: not a JSON record (JSONDecodeError)"]
