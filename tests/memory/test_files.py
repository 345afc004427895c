"""MEMORY.md and topics: limits with clear errors, writes that cannot leave topics/."""

from __future__ import annotations

from pathlib import Path

import pytest

from kairos_desktop.errors import MemoryLimitError, PathNotAllowedError
from kairos_desktop.memory.files import MemoryFiles


@pytest.fixture
def files(tmp_path: Path) -> MemoryFiles:
    (tmp_path / "topics").mkdir()
    return MemoryFiles(tmp_path)


def test_the_index_is_limited_to_200_lines(files: MemoryFiles) -> None:
    files.write_index("\n".join(f"- [t{i}](topics/t{i}.md): x" for i in range(200)))
    with pytest.raises(MemoryLimitError, match=r"201 lines.*the limit is 200 lines"):
        files.write_index("\n".join(f"- [t{i}](topics/t{i}.md): x" for i in range(201)))
    assert files.read_index().count("\n") == 200


def test_the_index_is_limited_to_25_kb(files: MemoryFiles) -> None:
    with pytest.raises(MemoryLimitError, match="25,600 bytes"):
        files.write_index("- " + "x" * 26_000)


@pytest.mark.parametrize("name", ["../logs/2026/11/2026-11-22", "/etc/passwd", "Work Notes",
                                  "logs", "../MEMORY"])
def test_topic_writes_cannot_leave_the_topics_folder(files: MemoryFiles, name: str) -> None:
    if name == "logs":  # a valid slug: it lands in topics/logs.md, not in the logs
        assert files.write_topic(name, "x") == files.topics_dir / "logs.md"
        return
    with pytest.raises(PathNotAllowedError, match="is not a topic name"):
        files.write_topic(name, "x")


def test_edit_needs_a_unique_excerpt(files: MemoryFiles) -> None:
    files.write_topic("family", "Mum: Anna\nSister: Anna\n")
    with pytest.raises(MemoryLimitError, match="occurs 2 times"):
        files.edit_topic("family", "Anna", "Eva")
    files.edit_topic("family", "Sister: Anna", "Sister: Eva")
    assert files.read_topic("family") == "Mum: Anna\nSister: Eva\n"


def test_search_covers_index_topics_and_logs_newest_first(files: MemoryFiles) -> None:
    files.write_index("- [Health](topics/health.md): dentist, pills\n")
    files.write_topic("health", "Dentist: Dr Weiss, every 6 months\n")
    for day in ("2026-11-20", "2026-11-21"):
        path = files.logs_dir / "2026" / "11" / f"{day}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {day}\n\n- 09:00:00 **user** book the dentist\n")
    hits = files.search("DENTIST")
    assert [h.path for h in hits] == ["MEMORY.md", "topics/health.md",
                                      "logs/2026/11/2026-11-21.md", "logs/2026/11/2026-11-20.md"]
    assert hits[1].line == 1 and "Dr Weiss" in hits[1].text



def test_search_ignores_the_logs_hash_markers(files: MemoryFiles) -> None:
    path = files.logs_dir / "2026" / "11" / "2026-11-22.md"
    path.parent.mkdir(parents=True)
    path.write_text("# Sunday 22 November 2026\n\n"
                    "- 09:00:00 **user** lunch at the cafe <!-- 0123456789abcdef -->\n"
                    "- 09:01:00 **user** hello <!-- cafe0123456789ab -->\n")
    hits = files.search("cafe")
    assert [(h.line, h.text) for h in hits] == [(3, "- 09:00:00 **user** lunch at the cafe")]
