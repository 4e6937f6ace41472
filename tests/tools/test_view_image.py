"""view_image: real files, what the model is told, and the image part left for the turn loop."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from pathlib import Path

from agentrt.events import ItemIds, Recorder
from agentrt.messages import ToolCall
from agentrt.model.responses import to_tool
from agentrt.tools.files import Hidden
from agentrt.tools.registry import Attaches, ToolContext, ToolRegistry
from agentrt.tools.view_image import ViewImageTool, image_type


def png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def view(tmp_path: Path, tool: ViewImageTool, path: str) -> str:
    ctx = ToolContext(cwd=tmp_path, emit=Recorder().emit, ids=ItemIds())
    call = ToolCall("c", "view_image", json.dumps({"path": path}))
    return asyncio.run(ToolRegistry([tool]).dispatch(call, ctx))


def test_an_image_is_left_as_a_data_url_part_for_the_next_message(tmp_path: Path) -> None:
    data = png()
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "red.png").write_bytes(data)
    tool = ViewImageTool()
    out = view(tmp_path, tool, "shots/red.png")
    assert f"`{tmp_path / 'shots' / 'red.png'}`" in out and "image/png" in out and "attached" in out
    assert isinstance(tool, Attaches)
    (part,) = tool.take_attachments()
    url = part["image_url"]["url"]
    assert part["type"] == "image_url" and part["image_url"]["detail"] == "high"
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == data
    assert tool.take_attachments() == []  # handed over once


def test_images_are_told_by_their_bytes_not_their_name(tmp_path: Path) -> None:
    assert image_type(png()) == "image/png"
    assert image_type(b"\xff\xd8\xff\xe0" + b"\0" * 10) == "image/jpeg"
    assert image_type(b"GIF89a" + b"\0" * 10) == "image/gif"
    assert image_type(b"RIFF\x10\0\0\0WEBPVP8 ") == "image/webp"
    assert image_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    (tmp_path / "fake.png").write_text("hello")
    (tmp_path / "real.txt").write_bytes(png())
    tool = ViewImageTool()
    assert view(tmp_path, tool, "fake.png").startswith("error:") and tool.take_attachments() == []
    assert "image/png" in view(tmp_path, tool, "real.txt") and len(tool.take_attachments()) == 1


def test_missing_too_large_and_hidden_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(png(64, 64))
    secret = tmp_path / ".ssh"
    secret.mkdir()
    (secret / "key.png").write_bytes(png())
    tool = ViewImageTool(Hidden([secret]), max_bytes=100)
    missing = view(tmp_path, tool, "nope.png")
    assert missing == f"error: cannot read the image at `{tmp_path / 'nope.png'}`: No such file or directory"
    assert "bytes" in view(tmp_path, tool, "big.png") and "at most 100" in view(tmp_path, tool, "big.png")
    hidden = view(tmp_path, tool, str(secret / "key.png"))
    assert hidden.startswith("error: invalid arguments for view_image") and "deny_read" in hidden
    assert tool.take_attachments() == []


def test_the_spec_has_codexs_shape() -> None:
    sent = to_tool(ViewImageTool().spec())
    assert (sent["name"], sent["strict"]) == ("view_image", False) and sent["description"]
    params = sent["parameters"]
    assert set(params["properties"]["path"]) == {"type", "description"}
    shape = {k: {"type": v["type"]} for k, v in params["properties"].items()}
    assert {**params, "properties": shape} == {  # Codex 0.169's, descriptions removed
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
        "additionalProperties": False,
    }
