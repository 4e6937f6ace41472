"""The ``view_image`` tool: ``{path}``, Codex's shape. It shows the model a local image file.

The file (PNG, JPEG, GIF or WebP, told by its first bytes, at most ``max_bytes``) is read in
agentrt's own process, so the paths the sandbox hides (``deny_read``) are refused here too. A tool
result is text, so the image cannot ride in it: the tool keeps it as a chat content part
(``{"type": "image_url", "image_url": {"url": "data:<type>;base64,…", "detail": "high"}}``, the shape
``agent.session.image_part`` gives and the Responses wire sends as ``input_image``) until the turn
loop collects it with ``take_attachments`` and sends it to the model in a user message after the
tool results. The result text says so. (Codex puts the image in the ``function_call_output`` itself,
as ``[{"type": "input_image", "image_url": …, "detail": "high"}]``.)
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

from agentrt.tools.files import Hidden
from agentrt.tools.registry import ToolContext, function_spec

MAX_IMAGE_BYTES = 20 << 20


def image_type(data: bytes) -> str | None:
    """The MIME type of an image agentrt can send, told by its signature; ``None`` for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class ViewImageTool:
    name = "view_image"
    read_only = True

    def __init__(self, hidden: Hidden | None = None, *, max_bytes: int = MAX_IMAGE_BYTES) -> None:
        self.hidden = hidden or Hidden()
        self.max_bytes = max_bytes
        self._parts: list[dict[str, Any]] = []

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "view_image",
            "Look at an image file on this machine (PNG, JPEG, GIF or WebP), such as a screenshot or "
            "a rendered chart; the image is shown to you after the tool results.",
            {
                "path": {
                    "type": "string",
                    "description": "The image file, absolute or relative to the working directory.",
                }
            },
            ["path"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        raw = args["path"]
        path = ctx.path(os.path.expanduser(raw))
        self.hidden.refuse(path, raw)
        try:
            data = await asyncio.to_thread(_read, path, self.max_bytes)
        except OSError as exc:
            return f"error: cannot read the image at `{path}`: {exc.strerror or exc}"
        except ValueError as exc:
            return f"error: {exc}"
        kind = image_type(data)
        if kind is None:
            return f"error: `{path}` is not an image agentrt can show (PNG, JPEG, GIF or WebP)"
        url = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
        self._parts.append({"type": "image_url", "image_url": {"url": url, "detail": "high"}})
        return f"Image `{path}` ({kind}, {len(data):,} bytes) is attached: it follows the tool results."

    def take_attachments(self) -> list[dict[str, Any]]:
        parts, self._parts = self._parts, []
        return parts


def _read(path: Path, max_bytes: int) -> bytes:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise ValueError(
                f"`{path}` is {size:,} bytes; images of at most {max_bytes:,} bytes can be shown"
            )
        return f.read(max_bytes + 1)
