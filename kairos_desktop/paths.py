"""Which files the assistant may touch: read within the workspace and the folders the user
allowed, write only inside the workspace.

Every check resolves the real path first (symlinks followed, `..` collapsed) and compares it with
the real roots, so neither a symlink nor a `..` can lead outside.
"""

from __future__ import annotations

from pathlib import Path

from .errors import PathNotAllowedError


class FolderPolicy:
    def __init__(self, workspace: Path, allowed_folders: list[str] | list[Path]) -> None:
        self.workspace = workspace.resolve()
        self.allowed = [Path(p).expanduser().resolve() for p in allowed_folders]

    @property
    def readable_roots(self) -> list[Path]:
        return [self.workspace, *self.allowed]

    def _describe_roots(self) -> str:
        return ", ".join(str(r) for r in self.readable_roots)

    def _absolute(self, raw: str) -> Path:
        if not raw or not raw.strip():
            raise PathNotAllowedError("the path is empty; give a file path")
        path = Path(raw.strip()).expanduser()
        return path if path.is_absolute() else self.workspace / path

    def readable(self, raw: str) -> Path:
        """The real path of an existing file or folder the assistant may read."""
        candidate = self._absolute(raw)
        try:
            real = candidate.resolve(strict=True)
        except FileNotFoundError:
            raise PathNotAllowedError(f"{raw!r} does not exist") from None
        if not any(_within(real, root) for root in self.readable_roots):
            raise PathNotAllowedError(
                f"{raw!r} is outside the folders the assistant may read "
                f"({self._describe_roots()}); the user can add a folder to the allowedFolders "
                "setting"
            )
        return real

    def writable(self, raw: str) -> Path:
        """A path inside the workspace to create or replace; never a symlink, never outside."""
        candidate = self._absolute(raw)
        parent = candidate.parent.resolve()
        target = parent / candidate.name
        if candidate.name in ("", ".", "..") or not _within(parent, self.workspace):
            raise PathNotAllowedError(
                f"{raw!r} is outside the workspace ({self.workspace}); the assistant may write "
                "only there"
            )
        if target.is_symlink():
            raise PathNotAllowedError(f"{raw!r} is a symbolic link; it cannot be written through")
        if target.exists() and not target.is_file():
            raise PathNotAllowedError(f"{raw!r} exists and is not a regular file")
        return target


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def shipped_dir(name: str, *, env: str, marker: str) -> Path | None:
    """A folder that ships beside the package (assets/, ui/): $`env`, a PyInstaller bundle's
    copy, or the checkout's; the first that holds `marker`."""
    import os
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    candidates = [os.environ.get(env), bundle and str(Path(bundle) / name),
                  str(Path(__file__).resolve().parents[1] / name)]
    for candidate in candidates:
        if candidate and (Path(candidate) / marker).exists():
            return Path(candidate).resolve()
    return None
