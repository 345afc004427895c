"""The memory folder as plain files: MEMORY.md (the index) and topics/<name>.md.

The index is what the assistant reads every session, so it is kept small by rule: at most 200
lines and 25 KB, enforced on every write with an error that says how to fix it. Topic names are
plain slugs, so no write can leave topics/ (and none can touch the daily logs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import MemoryLimitError, PathNotAllowedError
from ..journal import MARKER
from .log_index import LogIndex

INDEX_MAX_LINES = 200
INDEX_MAX_BYTES = 25 * 1024
TOPIC_MAX_BYTES = 64 * 1024
TOPIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass
class SearchHit:
    path: str  # relative to the memory folder
    line: int
    text: str


class MemoryFiles:
    def __init__(self, memory_dir: Path) -> None:
        self.root = memory_dir
        self.index_path = memory_dir / "MEMORY.md"
        self.topics_dir = memory_dir / "topics"
        self.logs_dir = memory_dir / "logs"
        self.log_index = LogIndex(self.logs_dir)

    # -- the index ---------------------------------------------------------------------------

    def read_index(self) -> str:
        return self.index_path.read_text(encoding="utf-8") if self.index_path.exists() else ""

    def write_index(self, text: str) -> None:
        check_index(text)
        atomic_write_text(self.index_path, text if text.endswith("\n") else text + "\n")

    # -- topics ------------------------------------------------------------------------------

    def topic_path(self, name: str) -> Path:
        slug = name.removesuffix(".md").removeprefix("topics/")
        if not TOPIC_NAME.match(slug):
            raise PathNotAllowedError(
                f"{name!r} is not a topic name: use lowercase letters, digits, '-' and '_' "
                "(e.g. 'work-projects'); topics live in memory/topics/ and nowhere else")
        return self.topics_dir / f"{slug}.md"

    def topics(self) -> list[str]:
        if not self.topics_dir.exists():
            return []
        return sorted(p.stem for p in self.topics_dir.glob("*.md"))

    def read_topic(self, name: str) -> str:
        path = self.topic_path(name)
        if not path.exists():
            raise PathNotAllowedError(f"no topic {name!r}; topics: {', '.join(self.topics())}")
        return path.read_text(encoding="utf-8")

    def write_topic(self, name: str, text: str) -> Path:
        path = self.topic_path(name)
        size = len(text.encode())
        if size > TOPIC_MAX_BYTES:
            raise MemoryLimitError(
                f"topic {name!r} would be {size:,} bytes, over the {TOPIC_MAX_BYTES:,}-byte "
                "limit; split it into narrower topics or drop what is stale")
        atomic_write_text(path, text if text.endswith("\n") else text + "\n")
        return path

    def edit_topic(self, name: str, old: str, new: str) -> Path:
        text = self.read_topic(name)
        count = text.count(old) if old else 0
        if count != 1:
            raise MemoryLimitError(
                f"the text to replace occurs {count} times in topic {name!r}; give a longer, "
                "unique excerpt" if count else f"the text to replace is not in topic {name!r}")
        return self.write_topic(name, text.replace(old, new, 1))

    def delete_topic(self, name: str) -> None:
        path = self.topic_path(name)
        if not path.exists():
            raise PathNotAllowedError(f"no topic {name!r}")
        path.unlink()

    def total_bytes(self) -> int:
        """Index plus topics: what a consolidation may shrink."""
        size = self.index_path.stat().st_size if self.index_path.exists() else 0
        return size + sum(p.stat().st_size for p in self.topics_dir.glob("*.md"))

    # -- reading and searching ---------------------------------------------------------------

    def resolve(self, relative: str) -> Path:
        """A readable file inside the memory folder (index, topics, logs)."""
        root = self.root.resolve()
        path = (root / relative.strip().lstrip("/")).resolve()
        if root != path and root not in path.parents:
            raise PathNotAllowedError(f"{relative!r} is outside the memory folder")
        if not path.is_file():
            raise PathNotAllowedError(f"{relative!r} is not a file in the memory folder")
        return path

    def search(self, query: str, *, limit: int = 40) -> list[SearchHit]:
        """Case-insensitive plain-text search: the index, then topics, then logs newest first."""
        needle = query.strip().lower()
        if not needle:
            return []
        files: list[Path] = []
        if self.index_path.exists():
            files.append(self.index_path)
        files += sorted(self.topics_dir.glob("*.md")) if self.topics_dir.exists() else []
        hits: list[SearchHit] = []
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            if needle not in text.lower():
                continue
            for number, raw in enumerate(text.splitlines(), 1):
                line = MARKER.sub("", raw)  # a log's hash marker is not content
                if needle in line.lower():
                    hits.append(SearchHit(str(path.relative_to(self.root)), number,
                                          line.strip()[:300]))
                    if len(hits) >= limit:
                        return hits
        # The logs grow for years: searched through their index, newest first.
        for hit in self.log_index.search(query, limit - len(hits)):
            hits.append(SearchHit(str(hit.path.relative_to(self.root)), hit.line, hit.text))
        return hits


def check_index(text: str) -> None:
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    size = len(text.encode())
    if len(lines) > INDEX_MAX_LINES or size > INDEX_MAX_BYTES:
        raise MemoryLimitError(
            f"MEMORY.md would have {len(lines)} lines and {size:,} bytes; the limit is "
            f"{INDEX_MAX_LINES} lines and {INDEX_MAX_BYTES:,} bytes. Keep one short line per "
            "topic (a hook and a link like '- [Work](topics/work.md): current projects') and "
            "move details into topic files.")
