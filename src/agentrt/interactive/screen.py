"""Where the session's output goes: appended above the composer, into the terminal's scrollback.

Nothing is redrawn: each piece of output is written once, as a normal program's output would be, so
it can be scrolled back, selected and copied. While the composer is on screen, writes are batched
for a moment and printed through prompt_toolkit's ``run_in_terminal`` (the composer is erased, the
text written, the composer drawn again below it); otherwise they go straight to the stream.
"""

from __future__ import annotations

import asyncio
from typing import TextIO

from prompt_toolkit.application import get_app_or_none, run_in_terminal

BATCH_S = 0.015
"""How long writes gather before one redraw: streamed blocks arrive in bursts."""


class Screen:
    """Append-only output for one session; ``pump`` runs as a task for the session's lifetime."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending: list[str] = []
        self._wake = asyncio.Event()

    def write(self, text: str) -> None:
        if text:
            self._pending.append(text)
            self._wake.set()

    async def pump(self) -> None:
        """Print what was written, batched, for as long as the session lasts (cancel to stop)."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(BATCH_S)
            await self.flush()

    async def flush(self) -> None:
        self._wake.clear()
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        app = get_app_or_none()
        if app is not None and app.is_running:
            await run_in_terminal(lambda: self._put(text), in_executor=False)
        else:
            self._put(text)

    def drain(self) -> None:
        """Print whatever is still pending, now (the session is ending; no composer is shown)."""
        text = "".join(self._pending)
        self._pending.clear()
        self._put(text)

    def _put(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
