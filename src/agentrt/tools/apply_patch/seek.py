"""Locate a run of lines in a file, trying strict comparisons before lenient ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType

from agentrt.tools.apply_patch.text import trim, trim_end

_PUNCTUATION = MappingProxyType(
    str.maketrans(
        {
            **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
            **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),
            **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
            **dict.fromkeys(
                "\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "
            ),
        }
    )
)


def normalise(text: str) -> str:
    """``text`` trimmed, with typographic dashes, quotes and odd spaces mapped to ASCII."""
    return trim(text).translate(_PUNCTUATION)


def _identity(text: str) -> str:
    return text


PASSES: tuple[Callable[[str], str], ...] = (_identity, trim_end, trim, normalise)


def seek_sequence(lines: Sequence[str], pattern: Sequence[str], start: int, eof: bool) -> int | None:
    """The first index at or after ``start`` where ``pattern`` occurs in ``lines``, or ``None``.

    Four passes, each over every candidate position before the next begins: exact, equal after
    trimming the end, equal after trimming both sides, equal after :func:`normalise`. With ``eof``
    the only candidate is the position that ends the pattern at the end of ``lines`` (and only when
    that is at or after ``start``). An empty pattern matches at ``start``.
    """
    if not pattern:
        return start
    if len(pattern) > len(lines):
        return None
    last = len(lines) - len(pattern)
    first = max(start, last) if eof else start
    for key in PASSES:
        wanted = [key(p) for p in pattern]
        for index in range(first, last + 1):
            if all(key(lines[index + k]) == w for k, w in enumerate(wanted)):
                return index
    return None
