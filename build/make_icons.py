"""Generate every icon Kairos needs from one drawing, with Pillow only.

Run from the repository root:

    python build/make_icons.py

The mark (a deep-blue rounded square with a white "K") is drawn in code at 4096 px and reduced to
a 1024 px master, so edges are antialiased by supersampling. Each tray state is the same mark with
a badge in the lower-right corner, cut out from the square so it reads on any panel colour. Every
output is resized from its own 1024 px master.

Writes (relative to the repository root):

    assets/icons/kairos-<state>-<size>.png   tray icons, states x (16 22 24 32 48 64 128 256)
    assets/icons/kairos-<size>.png           the plain app icon, 16 22 24 32 48 64 128 256 512 1024
    assets/kairos.png                        the plain app icon, 256 px
    assets/kairos.ico                        Windows, 16-256 px
    assets/kairos.icns                       macOS, 32-1024 px (mark inset on Apple's icon grid)

The output is deterministic: the same Pillow version writes the same bytes on every run (PNGs
carry no timestamps or text chunks). Files whose bytes would not change are not rewritten.
"""

from __future__ import annotations

import io
import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
ICONS = ASSETS / "icons"

MASTER = 1024  # every output is resized from a master this big
SS = 4  # supersampling factor: drawings are made at MASTER * SS, then reduced
CANVAS = MASTER * SS

STATE_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
APP_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)
ICNS_BODY = 824 / 1024  # Apple's macOS icon grid: the body is 824 px of a 1024 px canvas

# Colours.
BLUE_TOP = (52, 92, 230)
BLUE_BOTTOM = (24, 44, 150)
GREY_TOP = (128, 136, 150)
GREY_BOTTOM = (82, 89, 102)
WHITE = (255, 255, 255, 255)

Color = tuple[int, int, int]
Draw = ImageDraw.ImageDraw
Glyph = Callable[[Image.Image, Draw, float, float, float], None]


# --- geometry helpers (all coordinates are fractions of the canvas) ------------------------------


def px(v: float) -> float:
    return v * CANVAS


def stroke(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], width: float,
           fill: tuple[int, int, int, int] = WHITE) -> None:
    """A polyline with round caps and round joins; points and width in canvas fractions."""
    w = px(width)
    pts = [(px(x), px(y)) for x, y in points]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / length * w / 2, dx / length * w / 2
        draw.polygon([(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny),
                      (x0 - nx, y0 - ny)], fill=fill)
    for x, y in pts:
        draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=fill)


def disc(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
         fill: tuple[int, ...]) -> None:
    draw.ellipse((px(cx - r), px(cy - r), px(cx + r), px(cy + r)), fill=fill)


def gradient(top: Color, bottom: Color) -> Image.Image:
    """A vertical gradient filling the canvas (built at 1 px wide, then stretched)."""
    column = Image.new("RGB", (1, 256))
    for y in range(256):
        t = y / 255
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom,
                                                                              strict=True)))
    return column.resize((CANVAS, CANVAS), Image.Resampling.BILINEAR)


# --- the mark -------------------------------------------------------------------------------------

MARGIN = 0.035  # around the rounded square
RADIUS = 0.23  # corner radius of the rounded square
K_WIDTH = 0.12  # stroke width of the K


def draw_mark(top: Color, bottom: Color) -> Image.Image:
    """The Kairos mark at CANVAS px: a rounded square with a gradient and a white K."""
    square = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(square).rounded_rectangle(
        (px(MARGIN), px(MARGIN), px(1 - MARGIN), px(1 - MARGIN)), radius=px(RADIUS), fill=255)
    mark = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    mark.paste(gradient(top, bottom), (0, 0), square)

    draw = ImageDraw.Draw(mark)
    # The K: a stem, an arm up to the right, and a leg that springs from the arm.
    stem_x, top_y, bottom_y = 0.335, 0.255, 0.745
    stroke(draw, [(stem_x, top_y), (stem_x, bottom_y)], K_WIDTH)
    junction = (stem_x + 0.02, 0.555)
    stroke(draw, [junction, (0.675, top_y)], K_WIDTH)
    leg_start = (0.47, 0.445)
    stroke(draw, [leg_start, (0.685, bottom_y)], K_WIDTH)
    return mark


# --- badges ---------------------------------------------------------------------------------------

BADGE_CX = BADGE_CY = 0.765  # badge centre
BADGE_R = 0.235  # badge radius
BADGE_GAP = 0.05  # transparent ring cut out of the mark around the badge


def glyph_none(img: Image.Image, draw: Draw, cx: float, cy: float, r: float) -> None:
    pass


def glyph_z(img: Image.Image, draw: Draw, cx: float, cy: float, r: float) -> None:
    s, w = r * 0.42, r * 0.2
    stroke(draw, [(cx - s, cy - s), (cx + s, cy - s), (cx - s, cy + s), (cx + s, cy + s)], w)


def glyph_moon(img: Image.Image, draw: Draw, cx: float, cy: float, r: float) -> None:
    size = (CANVAS, CANVAS)
    moon = Image.new("L", size, 0)
    mdraw = ImageDraw.Draw(moon)
    disc(mdraw, cx - r * 0.06, cy + r * 0.02, r * 0.6, 255)
    disc(mdraw, cx + r * 0.26, cy - r * 0.22, r * 0.5, 0)
    img.paste(Image.new("RGBA", size, WHITE), (0, 0), moon)


def glyph_pause(img: Image.Image, draw: Draw, cx: float, cy: float, r: float) -> None:
    h, w, gap = r * 0.5, r * 0.26, r * 0.2
    for x in (cx - gap - w / 2, cx + gap + w / 2):
        stroke(draw, [(x, cy - h + w / 2), (x, cy + h - w / 2)], w)


def glyph_bang(img: Image.Image, draw: Draw, cx: float, cy: float, r: float) -> None:
    w = r * 0.26
    stroke(draw, [(cx, cy - r * 0.56 + w / 2), (cx, cy + r * 0.14)], w)
    disc(draw, cx, cy + r * 0.5, w * 0.62, WHITE)


def glyph_cross(img: Image.Image, draw: Draw, cx: float, cy: float, r: float) -> None:
    s, w = r * 0.36, r * 0.24
    stroke(draw, [(cx - s, cy - s), (cx + s, cy + s)], w)
    stroke(draw, [(cx - s, cy + s), (cx + s, cy - s)], w)


# state: (badge colour, glyph, hollow badge with a slash, greyed-out mark)
STATES: dict[str, tuple[Color, Glyph, bool, bool]] = {
    "sleeping": ((96, 136, 186), glyph_z, False, False),
    "working": ((34, 197, 94), glyph_none, False, False),
    "dreaming": ((147, 87, 235), glyph_moon, False, False),
    "paused": ((120, 126, 138), glyph_pause, False, False),
    "attention": ((245, 150, 12), glyph_bang, False, False),
    "offline": ((120, 126, 138), glyph_none, True, True),
    "error": ((226, 50, 50), glyph_cross, False, False),
}


def draw_state(mark: Image.Image, color: Color, glyph: Glyph, hollow: bool) -> Image.Image:
    img = mark.copy()
    # Cut a transparent ring around where the badge goes, so it stands apart from the mark.
    hole = Image.new("L", img.size, 255)
    disc(ImageDraw.Draw(hole), BADGE_CX, BADGE_CY, BADGE_R + BADGE_GAP, 0)
    alpha = img.getchannel("A")
    img.putalpha(Image.composite(alpha, hole, hole))

    draw = ImageDraw.Draw(img)
    fill = (*color, 255)
    if hollow:
        ring = BADGE_R * 0.3
        disc(draw, BADGE_CX, BADGE_CY, BADGE_R, fill)
        disc(draw, BADGE_CX, BADGE_CY, BADGE_R - ring, (0, 0, 0, 0))
        d = (BADGE_R - ring / 2) * math.sqrt(0.5)
        stroke(draw, [(BADGE_CX - d, BADGE_CY + d), (BADGE_CX + d, BADGE_CY - d)], ring, fill)
    else:
        disc(draw, BADGE_CX, BADGE_CY, BADGE_R, fill)
        glyph(img, draw, BADGE_CX, BADGE_CY, BADGE_R)
    return img


# --- output ---------------------------------------------------------------------------------------


def reduce(img: Image.Image, size: int) -> Image.Image:
    return img.resize((size, size), Image.Resampling.LANCZOS)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def write(path: Path, data: bytes, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        status = "unchanged"
    else:
        path.write_bytes(data)
        status = "wrote"
    written.append(path)
    print(f"{status:9} {path.relative_to(ROOT)} ({len(data):,} bytes)")


def main() -> int:
    written: list[Path] = []
    blue = draw_mark(BLUE_TOP, BLUE_BOTTOM)
    grey = draw_mark(GREY_TOP, GREY_BOTTOM)

    app = reduce(blue, MASTER)
    for size in APP_SIZES:
        write(ICONS / f"kairos-{size}.png", png_bytes(reduce(app, size)), written)
    write(ASSETS / "kairos.png", png_bytes(reduce(app, 256)), written)

    ico = io.BytesIO()
    frames = [reduce(app, s) for s in ICO_SIZES]
    frames[-1].save(ico, format="ICO", sizes=[(s, s) for s in ICO_SIZES],
                    append_images=frames[:-1])
    write(ASSETS / "kairos.ico", ico.getvalue(), written)

    # macOS draws icons as they are; inset the mark on Apple's grid so it matches other apps.
    body = round(MASTER * ICNS_BODY)
    mac = Image.new("RGBA", (MASTER, MASTER), (0, 0, 0, 0))
    offset = (MASTER - body) // 2
    mac.paste(reduce(app, body), (offset, offset))
    icns = io.BytesIO()
    mac_frames = [reduce(mac, s) for s in ICNS_SIZES]
    mac.save(icns, format="ICNS", append_images=mac_frames)
    write(ASSETS / "kairos.icns", icns.getvalue(), written)

    for state, (color, glyph, hollow, greyed) in STATES.items():
        master = reduce(draw_state(grey if greyed else blue, color, glyph, hollow), MASTER)
        for size in STATE_SIZES:
            write(ICONS / f"kairos-{state}-{size}.png", png_bytes(reduce(master, size)), written)

    total = sum(p.stat().st_size for p in written)
    print(f"{len(written)} files, {total:,} bytes in total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
