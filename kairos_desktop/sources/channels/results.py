"""What an MCP tool's result becomes for the model: text, images, and one line for the rest.

Why: a tool that returns a screenshot, or a resource whose text is right there, is useless to the
model as "[image content not shown]". So, per content block of a CallToolResult:
- text: as it is;
- an image (image/png, jpeg, gif or webp, at most MAX_IMAGE_BYTES decoded): an image block of the
  Messages API, sent with the tool result; a larger one, or another type, is one line naming its
  type and size;
- an embedded resource: its text (after a line naming its URI); a binary one is an image block
  when it is an image that fits, else one line naming its URI, type and size;
- anything else (audio, a resource link, a type this version does not know): one line naming its
  type (and size, when it has data).
A result with no content at all shows its structured content as JSON.
"""

from __future__ import annotations

import binascii
import json
from typing import TYPE_CHECKING, Any

from ...tools.base import ToolResult

if TYPE_CHECKING:
    from mcp.types import CallToolResult

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Decoded bytes of one image the model may see (the API takes up to 5 MB; every image is also
# kept in the transcript and sent again with each later call of the conversation).
MAX_IMAGE_BYTES = 1_000_000
MAX_IMAGES = 5
NOTHING = "(the tool returned nothing)"


def size_text(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / (1024 * 1024):.1f} MB"


def decoded_size(data: str) -> int:
    """Bytes that base64 `data` decodes to (without decoding it)."""
    stripped = data.rstrip("=")
    return len(stripped) * 3 // 4


def image_block(data: str, media_type: str) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type,
                                        "data": data}}


class _Parts:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.images: list[dict[str, Any]] = []

    def image(self, data: str, media_type: str, what: str) -> None:
        """An image block, or the line saying why it is not shown."""
        size = decoded_size(data)
        if media_type not in IMAGE_TYPES:
            self.lines.append(f"[{what}: {media_type}, {size_text(size)}, not shown: only PNG, "
                              "JPEG, GIF and WebP images can be]")
        elif size > MAX_IMAGE_BYTES:
            self.lines.append(f"[{what}: {media_type}, {size_text(size)}, not shown: larger "
                              f"than {size_text(MAX_IMAGE_BYTES)}]")
        elif len(self.images) >= MAX_IMAGES:
            self.lines.append(f"[{what}: {media_type}, {size_text(size)}, not shown: at most "
                              f"{MAX_IMAGES} images per result]")
        elif not _is_base64(data):
            self.lines.append(f"[{what}: {media_type}, not shown: its data is not base64]")
        else:
            self.images.append(image_block(data, media_type))
            self.lines.append(f"[{what} {len(self.images)}: {media_type}, {size_text(size)}, "
                              "attached]")


def _is_base64(data: str) -> bool:
    try:
        binascii.a2b_base64(data.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError):
        return False
    return True


def tool_result(result: CallToolResult, *, prefix: str = "") -> ToolResult:
    """`result` as the model gets it (see the module docstring)."""
    parts = _Parts()
    for block in result.content:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.lines.append(str(getattr(block, "text", "")))
        elif kind == "image":
            parts.image(str(getattr(block, "data", "")), str(getattr(block, "mime_type", "")),
                        "image")
        elif kind == "resource":
            _resource(parts, getattr(block, "resource", None))
        elif kind == "audio":
            data = str(getattr(block, "data", ""))
            parts.lines.append(f"[audio: {getattr(block, 'mime_type', 'unknown type')}, "
                               f"{size_text(decoded_size(data))}, not shown]")
        elif kind == "resource_link":
            size = getattr(block, "size", None)
            extra = "".join(f", {v}" for v in (getattr(block, "mime_type", None),
                                               size_text(size) if isinstance(size, int) else None)
                            if v)
            parts.lines.append(f"[resource link: {getattr(block, 'name', '')} "
                               f"{getattr(block, 'uri', '')}{extra}, not read]")
        else:
            parts.lines.append(f"[{kind or 'unknown'} content, not shown]")
    if not parts.lines and result.structured_content is not None:
        parts.lines.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts.lines) or NOTHING
    return ToolResult(prefix + text, is_error=bool(result.is_error), images=parts.images)


def _resource(parts: _Parts, resource: Any) -> None:
    uri = str(getattr(resource, "uri", ""))
    media_type = getattr(resource, "mime_type", None)
    text = getattr(resource, "text", None)
    if isinstance(text, str):
        parts.lines.append(f"[resource {uri}]\n{text}")
        return
    blob = getattr(resource, "blob", None)
    if isinstance(blob, str) and media_type in IMAGE_TYPES:
        parts.image(blob, str(media_type), f"resource {uri}")
        return
    size = size_text(decoded_size(blob)) if isinstance(blob, str) else "no data"
    parts.lines.append(f"[resource {uri}: {media_type or 'binary'}, {size}, not shown]")
