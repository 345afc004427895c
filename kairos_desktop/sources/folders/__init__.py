"""Watched folders: changes in folders the user named reach the assistant as one short summary.

Why: the user wants to hear about e.g. ~/notes or ~/Downloads, but one `git pull`, unzip or editor
save fires dozens of file-system events. The model should see ONE line per burst once the folder
has been quiet for `folderDebounceSeconds`, not a stream, and never the noise of .git, build
output or editor swap files.

rules.py decides what is noise (on watchdog's thread), batch.py folds a burst into one summary,
and watcher.py is the source itself (the observer, the debounce, the items).
"""

from __future__ import annotations

from .batch import FolderBatch, summarize
from .rules import DEFAULT_IGNORE, Change, FolderSpec, IgnoreRules, display_path
from .watcher import FolderWatcher

__all__ = [
    "DEFAULT_IGNORE",
    "Change",
    "FolderBatch",
    "FolderSpec",
    "FolderWatcher",
    "IgnoreRules",
    "display_path",
    "summarize",
]
