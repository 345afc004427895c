"""Tray icons per state, from assets/icons (made by build/make_icons.py from one source).

Looked up next to the package (a source checkout or an editable install), inside a PyInstaller
bundle, or in $KAIROS_ASSETS; a plain drawn circle stands in if none is found, so a broken
install still shows a tray icon rather than crashing."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw

from ..paths import shipped_dir

STATES = ("sleeping", "working", "dreaming", "paused", "attention", "offline", "error")
FALLBACK_COLOURS = {"sleeping": "#3b5b92", "working": "#2e9d52", "dreaming": "#7d4bc2",
                    "paused": "#888888", "attention": "#e69b00", "offline": "#9a9a9a",
                    "error": "#d23b3b"}


def assets_dir() -> Path | None:
    return shipped_dir("assets", env="KAIROS_ASSETS", marker="icons")


@cache
def state_icon(state: str, size: int = 64) -> Image.Image:
    folder = assets_dir()
    if folder is not None:
        path = folder / "icons" / f"kairos-{state}-{size}.png"
        if path.exists():
            return Image.open(path).convert("RGBA")
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((2, 2, size - 3, size - 3),
                                  fill=FALLBACK_COLOURS.get(state, "#3b5b92"))
    return image


def app_icon_path() -> Path | None:
    folder = assets_dir()
    if folder is None:
        return None
    path = folder / "kairos.png"
    return path if path.exists() else None
