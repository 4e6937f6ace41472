"""Cost as a user sees it: per turn and per session in ``turn.completed``, the rollout's ``turn_cost``
lines, ``agentrt sessions list``; and a benchmark run's ``--max-cost``.

The model server is real (loopback): it reports 100 input tokens (40 cached) and 10 output tokens a
request, so every figure below follows from the price and the number of requests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentrt.agent.cost import Price
from agentrt.agent.rollout import read_rollout
from agentrt.events import TokenUsage
from agentrt_cli import agentrt
from capture_server import capture_server

PRICE = Price(input=1000.0, cached_input=100.0, output=2000.0)
PER_REQUEST = PRICE.cost(TokenUsage(100, 40, 10))  # 60 fresh + 40 cached + 10 out = $0.084


def configured_home(tmp_path: Path, url: str, *, model: str = "priced-model") -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{model}"\nmodel_provider = "cap"\n[model_providers.cap]\nname = "capture"\n'
        f'base_url = "{url}"\nwire_api = "responses"\nrequires_api_key = false\n'
        '[model_prices."priced-model"]\ninput = 1000.0\ncached_input = 100.0\noutput = 2000.0\n'
    )
    return home


def completed(stdout: str) -> dict[str, Any]:
    (event,) = [e for e in map(json.loads, stdout.splitlines()) if e["type"] == "turn.completed"]
    return event


def test_turn_and_session_cost_in_events_rollout_and_listing(tmp_path: Path) -> None:
    plan = {"plan": [{"step": "look", "status": "in_progress"}]}
    script = [{"calls": [{"name": "update_plan", "arguments": plan}]}, {"text": "first"}, {"text": "second"}]
    work = tmp_path / "work"
    work.mkdir()
    with capture_server(script) as server:
        home = configured_home(tmp_path, server.url)
        first = agentrt(home, work, "exec", "--json", "--skip-git-repo-check", "go")
        assert first.returncode == 0, first.stderr
        turn = completed(first.stdout)  # two requests: the plan call, then the answer
        assert turn["turn_cost_usd"] == pytest.approx(2 * PER_REQUEST)
        assert turn["cost_usd"] == pytest.approx(2 * PER_REQUEST)
        again = agentrt(home, work, "exec", "--json", "--skip-git-repo-check", "resume", "--last", "more")
        assert again.returncode == 0, again.stderr
        turn = completed(again.stdout)  # one more request; the session's cost carries over
        assert turn["turn_cost_usd"] == pytest.approx(PER_REQUEST)
        assert turn["cost_usd"] == pytest.approx(3 * PER_REQUEST)

    (rollout,) = (home / "sessions").rglob("rollout-*.jsonl")
    lines = [p for kind, p in read_rollout(rollout).items if kind == "event_msg" and p["type"] == "turn_cost"]
    assert [round(line["turn_cost_usd"], 6) for line in lines] == [
        round(2 * PER_REQUEST, 6),
        round(PER_REQUEST, 6),
    ]
    assert lines[-1]["session_cost_usd"] == pytest.approx(3 * PER_REQUEST)

    table = agentrt(home, work, "sessions", "list")
    header, row = table.stdout.splitlines()
    assert header.split()[:5] == ["ID", "STARTED", "(UTC)", "CWD", "COST"]
    assert f"${3 * PER_REQUEST:.4f}" in row
    (listed,) = map(json.loads, agentrt(home, work, "sessions", "list", "--json").stdout.splitlines())
    assert listed["cost_usd"] == pytest.approx(3 * PER_REQUEST) and listed["cost_tracked"] is True


def test_unknown_price_and_untracked_cost_are_told_apart(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with capture_server([{"text": "a"}, {"text": "b"}]) as server:
        home = configured_home(tmp_path, server.url, model="nobody-priced-this")
        unknown = agentrt(home, work, "exec", "--json", "--skip-git-repo-check", "go")
        assert completed(unknown.stdout)["cost_usd"] is None
        untracked = agentrt(
            home, work, "exec", "--json", "--skip-git-repo-check", "--disable", "cost_tracking", "go"
        )
        assert "cost_usd" not in completed(untracked.stdout)
    rows = [line.split() for line in agentrt(home, work, "sessions", "list").stdout.splitlines()[1:]]
    # newest first: the untracked session shows "-", the one with no price "unknown" (never $0)
    assert [r[4] for r in rows] == ["-", "unknown"]


def test_bench_max_cost_stops_the_run_cleanly(tmp_path: Path) -> None:
    from agentrt.model.sim.process import SimProcess

    sim = SimProcess(["--model", "gpt-5"])
    try:
        url = sim.start()
        out = tmp_path / "out"
        argv = ["bench", "humaneval", "--limit", "6", "--concurrency", "1", "--base-url", url]
        run = agentrt(
            tmp_path / "home", tmp_path, *argv, "--model", "gpt-5", "--max-cost", "0.002", "--out", str(out)
        )
        assert run.returncode == 1, run.stderr
        assert "the run stopped at its cost limit of $0.002" in run.stderr and "Traceback" not in run.stderr
        (summary_path,) = out.glob("raw/*_summary.json")
        summary = json.loads(summary_path.read_text())
        assert summary["max_cost_usd"] == 0.002 and "(limit $0.002)" in run.stdout
        assert 0 < summary["passed"] < 6  # some tasks ran, then the budget stopped the rest
        assert summary["stopped_by_cost"] == 6 - summary["passed"]
        assert summary["cost_usd"] <= 0.002 * 1.5  # the request in flight may overshoot, no more
        rows = next(p for p in out.glob("raw/*.csv") if "timeline" not in p.name).read_text()
        assert "cost limit" in rows
        bad = agentrt(
            tmp_path / "home",
            tmp_path,
            *argv,
            "--model",
            "nobody-priced",
            "--max-cost",
            "1",
            "--out",
            str(out),
        )
        assert bad.returncode != 0 and "--max-cost needs the price of model nobody-priced" in bad.stderr
    finally:
        sim.close()


def test_bench_max_cost_counts_sampled_retries(tmp_path: Path) -> None:
    """A retry strategy that changes requests goes under the cost cap: retries are counted, not refused
    for want of a tunable model."""
    from agentrt.model.sim.process import SimProcess

    sim = SimProcess(["--model", "gpt-5", "--fail-rate", "1"])
    try:
        url = sim.start()
        out = tmp_path / "out"
        run = agentrt(
            tmp_path / "home", tmp_path, "bench", "humaneval", "--limit", "2", "--concurrency", "1",
            "--base-url", url, "--model", "gpt-5", "--max-cost", "5", "--retry-temperature", "0.5",
            "--retry-context", "fresh", "--out", str(out), "--no-progress",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        (summary_path,) = out.glob("raw/*_summary.json")
        summary = json.loads(summary_path.read_text())
        assert (summary["passed"], summary["recovered"]) == (2, 2)
        assert summary["retry"]["temperature"] == 0.5 and summary["cost_usd"] > 0
    finally:
        sim.close()
