"""Benchmark progress on a terminal stream (normally stderr).

On a TTY, one line redrawn in place with ``\\r`` (bar, done/total, outcomes, elapsed, rough ETA), at
most about ten times a second. Anywhere else, a plain line at every 10% of the tasks and at the end,
so logs stay readable. It is an ``EventSink`` of ``TaskFinished`` events and only counts between redraws; a stream that fails to take a write
(closed, broken pipe) silently turns the display off. A resumed run starts from the tasks it kept:
they count as done (and passed or failed), are shown as ``kept N``, and the ETA comes from the tasks
run now.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agentrt.events import Event, TaskFinished

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TextIO

_REDRAW_S = 0.1
_BAR = 24


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (OSError, ValueError):
        return False


class Progress:
    """Counts finished tasks and shows how far the run is."""

    def __init__(
        self, total: int, stream: TextIO, *, enabled: bool = True, label: str = "", kept: Sequence[str] = ()
    ) -> None:
        """``total`` tasks, of which ``kept`` (their statuses) were finished by an earlier sitting."""
        self.total = max(0, total)
        self.kept = len(kept)
        self.done = self.kept
        self.passed = sum(1 for status in kept if status == "passed")
        self.failed = sum(1 for status in kept if status == "failed")
        self.errors = self.kept - self.passed - self.failed
        self._stream = stream
        self._enabled = enabled
        self._label = f"{label} " if label else ""
        self._tty = enabled and _is_tty(stream)
        self._started = time.monotonic()
        self._next_draw = 0.0
        self._width = 0
        self._step = self.done * 10 // self.total if self.total else 0
        self._printed_done = self.done
        self._closed = False

    def emit(self, event: Event) -> None:
        """An ``EventSink``: counts ``TaskFinished`` events, ignores the rest."""
        if isinstance(event, TaskFinished):
            self.update(event.status)

    def update(self, status: str) -> None:
        """Count one finished task (``passed``, ``failed`` or ``error``) and redraw when due."""
        self.done += 1
        if status == "passed":
            self.passed += 1
        elif status == "failed":
            self.failed += 1
        else:
            self.errors += 1
        if not self._enabled or self._closed:
            return
        if self._tty:
            now = time.monotonic()
            if now >= self._next_draw or self.done == self.total:
                self._next_draw = now + _REDRAW_S
                self._draw(now)
            return
        step = self.done * 10 // self.total if self.total else 0
        if step > self._step:
            self._step = step
            self._print_line()

    def close(self) -> None:
        """Show the final state and end the line; later updates only count."""
        if self._closed:
            return
        self._closed = True
        if not self._enabled:
            return
        if self._tty:
            self._draw(time.monotonic())
            self._write("\n")
        elif self.done != self._printed_done:
            self._print_line()

    def _status(self, now: float, percent: str = "") -> str:
        elapsed = now - self._started
        kept = f"  kept {self.kept}" if self.kept else ""
        text = (
            f"{self.done}/{self.total}{percent}"
            f"  passed {self.passed}  failed {self.failed}  errors {self.errors}{kept}"
            f"  elapsed {_duration(elapsed)}"
        )
        remaining = self.total - self.done
        ran = self.done - self.kept
        if ran > 0 and remaining > 0:
            text += f"  eta {_duration(elapsed / ran * remaining)}"
        return text

    def _draw(self, now: float) -> None:
        fraction = min(1.0, self.done / self.total) if self.total else 1.0
        filled = round(fraction * _BAR)
        line = f"{self._label}[{'#' * filled}{'-' * (_BAR - filled)}] {self._status(now)}"
        padding = " " * max(0, self._width - len(line))
        self._width = len(line)
        self._write(f"\r{line}{padding}")

    def _print_line(self) -> None:
        self._printed_done = self.done
        percent = f" ({self.done * 100 // self.total}%)" if self.total else ""
        self._write(f"{self._label}{self._status(time.monotonic(), percent)}\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._enabled = False  # the stream is gone; the run must not fail because of it
