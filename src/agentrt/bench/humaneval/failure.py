"""What broke, read out of a failed pytest run: the check that failed, where the solution raised, and
pytest's own verdict — the short form a small model can act on (``--retry-feedback assertion``).

pytest's ``--tb=short`` output names each frame as ``FILE:LINE: in FUNC`` followed by its source line
(and ``^^^`` markers under it); the error follows as ``E   `` lines. The digest keeps the last frame in
the test file (the failing check, with the test's ``candidate`` renamed to the function under test), the
last frame in ``solution.py`` when the solution raised, and the ``E`` lines with object reprs such as
``<function f at 0x7f…>`` shortened to ``f``. Output it cannot read yields ``None``: the caller then
feeds back the plain excerpt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FRAME = re.compile(r"^(?P<file>[^\s:][^:]*\.py):(?P<line>\d+): in (?P<func>\S+)$")
_FUNCTION_REPR = re.compile(r"<function (\w+) at 0x[0-9a-fA-F]+>")
_ENTRY = re.compile(r"^\s*check\((\w+)\)\s*$")
_MARKERS = re.compile(r"^\s*[\^~]+\s*$")


@dataclass(frozen=True, slots=True)
class Frame:
    file: str
    line: int
    source: str


@dataclass(frozen=True, slots=True)
class Failure:
    check: Frame | None
    """The last frame in the test module: the assertion (or call) that failed."""
    raised_in: Frame | None
    """The last frame in ``solution.py``, when the solution itself raised."""
    verdict: tuple[str, ...]
    """pytest's ``E`` lines, reprs shortened."""


def read_failure(output: str, test_file: str = "test_solution.py") -> Failure | None:
    """The first failure in ``output`` (pytest ``--tb=short``), or ``None`` when there is none to read."""
    lines = output.splitlines()
    frames: list[Frame] = []
    verdict: list[str] = []
    entry: str | None = None
    for i, text in enumerate(lines):
        if verdict and not text.startswith("E "):
            break  # the first failure's verdict ended
        if text.startswith("E "):
            verdict.append(_FUNCTION_REPR.sub(r"\1", text[2:].strip()))
            continue
        frame = _FRAME.match(text)
        if frame is None:
            continue
        source = _source_after(lines, i)
        if entry is None and (named := _ENTRY.match(source)):
            entry = named.group(1)
        frames.append(Frame(frame["file"], int(frame["line"]), source.strip()))
    if not verdict:
        return None
    check = next((f for f in reversed(frames) if _named(f, test_file)), None)
    if check is not None and entry is not None:
        check = Frame(check.file, check.line, re.sub(r"\bcandidate\b", entry, check.source))
    raised = next((f for f in reversed(frames) if _named(f, "solution.py")), None)
    return Failure(check, raised, tuple(verdict))


def describe(failure: Failure) -> str:
    """The failure as a few plain lines for the model."""
    parts: list[str] = []
    if failure.check is not None:
        parts.append(
            f"The check that failed (line {failure.check.line} of the tests):\n    {failure.check.source}"
        )
    if failure.raised_in is not None:
        r = failure.raised_in
        parts.append(f"Your code raised at line {r.line} of solution.py:\n    {r.source}")
    parts.append("pytest says:\n" + "\n".join(f"    {line}" for line in failure.verdict))
    return "\n".join(parts)


def _named(frame: Frame, name: str) -> bool:
    return frame.file.replace("\\", "/").rsplit("/", 1)[-1] == name


def _source_after(lines: list[str], i: int) -> str:
    """The source line printed under the frame header at ``i`` (skipping ``^^^`` marker lines)."""
    for text in lines[i + 1 : i + 3]:
        if text.startswith("    ") and not _MARKERS.match(text):
            return text
    return ""
