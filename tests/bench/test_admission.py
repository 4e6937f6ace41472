"""Memory-aware admission: the live runs' expected peaks fit the budget; estimates are learned."""

from __future__ import annotations

import asyncio

import pytest

from agentrt.bench.admission import INITIAL_MIB, MARGIN, MemoryGate, parse_size
from agentrt.bench.dataset import Task, base_id, repeat_tasks


def test_parse_size() -> None:
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("512MiB") == 512 << 20
    assert parse_size("1.5G") == 3 << 29
    assert parse_size("800m") == 800 << 20
    assert parse_size("4096") == 4096
    for bad in ("", "lots", "-1G", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_runs_wait_while_the_expected_peaks_do_not_fit_and_estimates_are_learned() -> None:
    async def main() -> tuple[int, MemoryGate]:
        gate = MemoryGate(100.0, initial_mib=40.0)
        live = 0
        most = 0

        async def one() -> None:
            nonlocal live, most
            async with gate.admit("t") as ticket:
                live += 1
                most = max(most, live)
                await asyncio.sleep(0.01)
                ticket.peak_mib = 20.0
                live -= 1

        await asyncio.gather(*(one() for _ in range(12)))
        return most, gate

    most, gate = asyncio.run(main())
    assert 2 <= most <= 100 // (20 * MARGIN)  # 2 fit at first (40 MiB each), then 4 (22 MiB each)
    assert gate.expected("t") == pytest.approx(20.0 * MARGIN)
    assert gate.expected("other") == pytest.approx(20.0 * MARGIN)
    assert gate.peak_expected_mib <= 100.0 and gate.waited_s > 0 and gate.overruns == 0
    assert gate.report()["memory_budget_mib"] == 100.0


def test_one_run_is_admitted_alone_however_large_and_overruns_are_counted() -> None:
    async def main() -> MemoryGate:
        gate = MemoryGate(10.0, reserved_mib=5.0)
        async with gate.admit("big") as ticket:
            assert ticket.expected_mib == INITIAL_MIB
            ticket.peak_mib = INITIAL_MIB * 2
        return gate

    gate = asyncio.run(main())
    assert gate.overruns == 1 and gate.expected("big") == pytest.approx(INITIAL_MIB * 2 * MARGIN)


def test_repeat_gives_distinct_ids_and_the_base_id_back() -> None:
    tasks = [Task("HumanEval/0", "s", "t"), Task("HumanEval/1", "s1", "t1")]
    assert repeat_tasks(tasks, 1) == tasks
    ids = [t.id for t in repeat_tasks(tasks, 3)]
    assert ids == [f"HumanEval/{i}#{k}" for i in (0, 1) for k in (1, 2, 3)]
    assert {base_id(i) for i in ids} == {"HumanEval/0", "HumanEval/1"}
    with pytest.raises(ValueError):
        repeat_tasks(tasks, 0)
