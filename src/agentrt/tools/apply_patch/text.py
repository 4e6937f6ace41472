"""String primitives with the exact semantics the patch format is defined by.

The format's reference behaviour trims with the Unicode ``White_Space`` property and splits lines on
``\\n`` or ``\\r\\n`` only. Python's ``str.strip()`` also strips U+001C..U+001F and ``str.splitlines()``
splits on a dozen more separators, so agentrt uses these helpers wherever the format trims or splits.
"""

from __future__ import annotations

WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def trim(text: str) -> str:
    """``text`` without leading and trailing Unicode ``White_Space``."""
    return text.strip(WHITE_SPACE)


def trim_end(text: str) -> str:
    """``text`` without trailing Unicode ``White_Space``."""
    return text.rstrip(WHITE_SPACE)


def split_lines(text: str) -> list[str]:
    """Lines split at ``\\n`` or ``\\r\\n``; a final line ending adds no empty line; ``""`` has none."""
    if not text:
        return []
    pieces = text.split("\n")
    if pieces[-1] == "":
        pieces.pop()
        return [p[:-1] if p.endswith("\r") else p for p in pieces]
    last = pieces.pop()
    return [p[:-1] if p.endswith("\r") else p for p in pieces] + [last]
