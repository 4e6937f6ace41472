"""Memory-aware admission of test processes (``--memory-budget``).

A test run is admitted only while the expected peaks of the live runs, its own included, fit in the
budget (less what is reserved for the fork server). A run's expected peak is learned as the run goes:
10 % above the highest peak RSS (from ``wait4``) measured so far for the same task (``--repeat``
copies and retries share it), else above the highest measured for any task, else the conservative
start. One run is always admitted when none is live, however large its estimate, so nothing waits
forever. Admission bounds what starts; it does not stop a run that outgrows its estimate (those are
counted as ``overruns``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

MARGIN = 1.1
INITIAL_MIB = 256.0
"""Expected peak of a run before any has been measured: well above a pytest child (25–45 MiB)."""


@dataclass(slots=True)
class Ticket:
    """One admitted run: what it was expected to take, how long it waited, what it took."""

    expected_mib: float
    waited_s: float
    peak_mib: float | None = None


class MemoryGate:
    """Admits test processes while the sum of the live ones' expected peaks fits ``budget_mib``."""

    def __init__(
        self, budget_mib: float, *, reserved_mib: float = 0.0, initial_mib: float = INITIAL_MIB
    ) -> None:
        if budget_mib <= 0:
            raise ValueError(f"the memory budget must be positive, got {budget_mib} MiB")
        self.budget_mib = budget_mib
        self.reserved_mib = reserved_mib
        self._initial = initial_mib
        self._known: dict[str, float] = {}
        self._highest: float | None = None
        self._in_use = 0.0
        self._live = 0
        self._changed = asyncio.Condition()
        self.waited_s = 0.0
        self.max_wait_s = 0.0
        self.admitted = 0
        self.overruns = 0
        self.peak_expected_mib = 0.0

    def expected(self, key: str) -> float:
        """The peak RSS (MiB) a run of task ``key`` is expected to reach."""
        seen = self._known.get(key, self._highest)
        return self._initial if seen is None else seen * MARGIN

    @asynccontextmanager
    async def admit(self, key: str) -> AsyncIterator[Ticket]:
        """Wait until a run of ``key`` fits, hold its share while the body runs; the body sets
        ``ticket.peak_mib`` when it measured one."""
        need = self.expected(key)
        started = time.monotonic()
        async with self._changed:
            await self._changed.wait_for(lambda: self._fits(need))
            self._take(need)
        ticket = Ticket(need, time.monotonic() - started)
        self.waited_s += ticket.waited_s
        self.max_wait_s = max(self.max_wait_s, ticket.waited_s)
        try:
            yield ticket
        finally:
            self._learn(key, ticket)
            async with self._changed:
                self._in_use -= need
                self._live -= 1
                self._changed.notify_all()

    def _fits(self, need: float) -> bool:
        return self._live == 0 or self._in_use + need <= self.budget_mib - self.reserved_mib

    def _take(self, need: float) -> None:
        self._in_use += need
        self._live += 1
        self.admitted += 1
        self.peak_expected_mib = max(self.peak_expected_mib, self._in_use)

    def _learn(self, key: str, ticket: Ticket) -> None:
        peak = ticket.peak_mib
        if peak is None:
            return
        if peak > ticket.expected_mib:
            self.overruns += 1
        self._known[key] = max(peak, self._known.get(key, 0.0))
        self._highest = peak if self._highest is None else max(self._highest, peak)

    def report(self) -> dict[str, object]:
        """The summary's admission keys."""
        return {
            "memory_budget_mib": round(self.budget_mib, 1),
            "memory_reserved_mib": round(self.reserved_mib, 1),
            "admission_wait_s": round(self.waited_s, 4),
            "admission_max_wait_s": round(self.max_wait_s, 4),
            "admitted_expected_peak_mib": round(self.peak_expected_mib, 1),
            "admission_overruns": self.overruns,
        }


def parse_size(text: str) -> int:
    """Bytes in a size such as ``1GiB``, ``512MiB``, ``1.5G``, ``800M`` or ``1073741824``."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    raw = text.strip().lower().removesuffix("ib").removesuffix("b")
    factor = units.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in units else raw
    try:
        value = float(number) * factor
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 1GiB, 512MiB)") from None
    if value <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return int(value)
