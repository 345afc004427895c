"""Tray icons per state, from assets/icons (made by build/make_icons.py from one source).

Each state is drawn at 16, 22, 24, 32, 48, 64, 128 and 256 px: a tray draws the asset made for
its size (at 16-24 px the badge is redrawn for that size, where a scaled-down 64 px image turns
it into a smudge). Looked up next to the package (a source checkout or an editable install),
inside a PyInstaller bundle, or in $KAIROS_ASSETS; a plain drawn circle stands in if none is
found, so a broken install still shows a tray icon rather than crashing."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw

from ..launcher import STATE_SIZES, STATES, assets_dir

FALLBACK_COLOURS = {"sleeping": "#3b5b92", "working": "#2e9d52", "dreaming": "#7d4bc2",
                    "paused": "#888888", "attention": "#e69b00", "offline": "#9a9a9a",
                    "error": "#d23b3b"}
TRAY_SIZES = (16, 22, 24, 32, 48, 64)  # what a panel asks for; a StatusNotifierItem sends all
__all__ = ["STATES", "TRAY_SIZES", "app_icon_path", "argb_pixmap", "nearest_size",
           "state_icon", "state_icon_path"]


def nearest_size(size: int) -> int:
    """The smallest drawn size at least `size` (the largest when none is)."""
    return next((s for s in STATE_SIZES if s >= size), STATE_SIZES[-1])


def state_icon_path(state: str, size: int) -> Path | None:
    folder = assets_dir()
    if folder is None:
        return None
    path = folder / "icons" / f"kairos-{state}-{nearest_size(size)}.png"
    return path if path.exists() else None


@cache
def state_icon(state: str, size: int = 64) -> Image.Image:
    path = state_icon_path(state, size)
    if path is not None:
        image = Image.open(path).convert("RGBA")
        return image if image.size == (size, size) else image.resize(
            (size, size), Image.Resampling.LANCZOS)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((1, 1, size - 2, size - 2),
                                  fill=FALLBACK_COLOURS.get(state, "#3b5b92"))
    return image


@cache
def argb_pixmap(state: str, size: int) -> tuple[int, int, bytes]:
    """(width, height, ARGB32 in network byte order): a StatusNotifierItem's IconPixmap."""
    image = state_icon(state, size)
    r, g, b, a = image.split()
    return image.width, image.height, Image.merge("RGBA", (a, r, g, b)).tobytes()


def app_icon_path() -> Path | None:
    folder = assets_dir()
    if folder is None:
        return None
    path = folder / "kairos.png"
    return path if path.exists() else None
