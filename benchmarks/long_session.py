"""A long `agentrt exec` session in a small window: tool-output masking, compaction, both, neither.

One scripted task of ``--requests`` model requests (default 300), each a shell command that prints
about 500 tokens, against the simulator with a ``--window`` token context window (default 8192): the
simulator counts every request and refuses one larger than the window with 400
``context_length_exceeded``, as a real server does. The same session runs four times:

* ``neither``    — the whole history every request (masking off, compaction off): fails when it fills;
* ``masking``    — old tool outputs replaced by a one-line placeholder in what is sent;
* ``compaction`` — the history compacted at 90 % of the window (one summary request each time);
* ``both``       — agentrt's default.

For each it prints how many requests completed, where it failed (if it did), the compactions, and
the tokens sent per request (from the rollout's ``token_count`` lines: the server's count).

    python benchmarks/long_session.py                      # 300 requests, 8k window
    python benchmarks/long_session.py --requests 100 --window 4096
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from agentrt.model.sim.process import SimProcess

OFF = "model_auto_compact_token_limit=0"  # compaction off, on a refusal too
MODES = {
    "neither": ["-c", "tool_output_masking=false", "-c", OFF],
    "masking": ["-c", OFF],
    "compaction": ["-c", "tool_output_masking=false"],
    "both": [],
}


def script(requests: int) -> list[dict[str, object]]:
    command = ["bash", "-c", "printf 'data %.0s' {1..400}"]
    call = {"content": "", "tool_calls": [{"name": "shell", "arguments": {"command": command}}]}
    return [call] * (requests - 1) + [{"content": "All steps done."}]


def run_mode(work: Path, name: str, args: argparse.Namespace) -> dict[str, object]:
    where = work / name
    (where / "repo").mkdir(parents=True)
    (where / "home").mkdir()
    subprocess.run(["git", "init", "-q", str(where / "repo")], check=True)
    path = where / "script.json"
    path.write_text(json.dumps(script(args.requests)))
    sim_args = ["--policy", "script", "--script", str(path), "--script-step", "requests"]
    with SimProcess([*sim_args, "--context-window", str(args.window)]) as sim:
        (where / "home" / "config.toml").write_text(
            f'model = "agentrt-sim"\nmodel_provider = "sim"\nmodel_context_window = {args.window}\n'
            f'max_turns = {args.requests + 10}\n[model_providers.sim]\nname = "sim"\n'
            f'base_url = "{sim.url}"\nwire_api = "chat"\nrequires_api_key = false\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
        done = subprocess.run(
            [sys.executable, "-m", "agentrt", "exec", "--json", "-s", "workspace-write", *MODES[name], "go"],
            cwd=where / "repo", env=env | {"AGENTRT_HOME": str(where / "home")},
            capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    return summarise(where / "home", done)


def summarise(home: Path, done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    [rollout] = list((home / "sessions").rglob("rollout-*.jsonl"))
    sent: list[int] = []
    compactions = 0
    for line in rollout.read_text().splitlines():
        item = json.loads(line)
        payload = item["payload"]
        if item["type"] == "event_msg" and payload.get("type") == "token_count":
            sent.append(payload["info"]["last_token_usage"]["input_tokens"])
        compactions += item["type"] == "compacted"
    failure = next((json.loads(x) for x in done.stdout.splitlines() if '"turn.failed"' in x), None)
    return {
        "completed": len(sent),
        "failed": None if failure is None else f"request {len(sent) + 1}: {failure['error']['message'][:70]}",
        "compactions": compactions,
        "sent": sent,
        "exit": done.returncode,
    }


def show(name: str, r: dict[str, object], requests: int) -> None:
    sent = r["sent"]
    assert isinstance(sent, list)
    marks = [1, *range(50, requests + 1, 50)]
    series = " ".join(f"{m}:{sent[m - 1]}" for m in marks if m <= len(sent))
    outcome = "finished" if r["failed"] is None and r["exit"] == 0 else f"FAILED at {r['failed']}"
    print(f"{name:<11} {r['completed']:>4} requests  {outcome}")
    if sent:
        print(f"{'':<11} tokens sent: max {max(sent)}, mean {sum(sent) // len(sent)}, total {sum(sent):,}; "
              f"compactions {r['compactions']} (one summary request each)")  # fmt: skip
        print(f"{'':<11} per request (n:tokens) {series}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--window", type=int, default=8192)
    args = p.parse_args()
    print(f"{args.requests}-request exec session, simulator window {args.window} tokens")
    with tempfile.TemporaryDirectory(prefix="agentrt-long-session-") as tmp:
        for name in MODES:
            show(name, run_mode(Path(tmp), name, args), args.requests)


if __name__ == "__main__":
    main()
