"""Cutting long text for a model or a person: keep the head and the tail, mark what was left out.

One marker everywhere (tool output, command output, test-failure excerpts): ``[... N bytes omitted ...]``
or ``[... N characters omitted ...]`` on a line of its own.
"""

from __future__ import annotations

from typing import Literal

Unit = Literal["bytes", "characters"]


def omission(count: int, unit: Unit) -> str:
    """The marker that stands for ``count`` units left out."""
    return f"\n[... {count} {unit} omitted ...]\n"


def head_tail(text: str, limit: int, *, unit: Unit = "bytes", head_share: float = 0.5) -> str:
    """``text`` if it fits in ``limit`` units, else its head and tail (``head_share`` of the budget for
    the head) around the marker. Bytes are counted in UTF-8 and a cut never splits a character."""
    if unit == "characters":
        if len(text) <= limit:
            return text
        head_n = int(limit * head_share)
        tail_n = limit - head_n
        return text[:head_n] + omission(len(text) - limit, unit) + (text[-tail_n:] if tail_n else "")
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    head_n = int(limit * head_share)
    tail_n = limit - head_n
    head = data[:head_n].decode("utf-8", "ignore")
    tail = data[len(data) - tail_n :].decode("utf-8", "ignore") if tail_n else ""
    return head + omission(len(data) - limit, unit) + tail
