"""The interactive session's costs, measured through a real terminal (tmux), as a person meets them.

Prints, for ``agentrt --sim SCRIPT`` in a fresh git repository:

* **ready**: wall time from starting the command to the composer's prompt on screen, and the
  process's peak RSS (VmHWM) at that moment — targets ≤ 0.5 s and ≤ 60 MiB;
* **after 20 turns**: peak and current RSS after a 20-turn scripted session (each turn: a command,
  then a Markdown answer with a code block) — target ≤ 64 MiB;
* **echo**: how long a typed key takes to show while a turn streams a long answer and while a
  command runs (the composer must never wait on the model or a command).

    python benchmarks/interactive.py            # medians of --runs starts (default 5)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "interactive"))
from tty_support import AGENTRT, Terminal, session_env  # noqa: E402

ANSWER = (
    "## Turn {n}\n\nHere is a **short** answer with a list:\n\n- one\n- two\n\n"
    "```python\ndef f{n}(x):\n    return x * {n}\n```\n\nDone with turn {n}."
)


def twenty_turns() -> list[dict[str, object]]:
    replies: list[dict[str, object]] = []
    for n in range(1, 21):
        call = {"name": "shell", "arguments": {"command": ["echo", f"step {n}"]}}
        replies += [{"content": "", "tool_calls": [call]}, {"content": ANSWER.format(n=n)}]
    return replies


def agentrt_pid(term: Terminal) -> int:
    """The agentrt process: the pane's shell's child."""
    shell = term.pid()
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    return int(children[0]) if children else shell


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of ``pid`` in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return (int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024)


def start(work: Path, script: list[dict[str, object]], name: str) -> tuple[Terminal, float]:
    where = work / name
    where.mkdir()
    repo = where / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    script_path = where / "script.json"
    script_path.write_text(json.dumps(script))
    home = where / "home"
    home.mkdir()
    began = time.perf_counter()
    term = Terminal(
        where, [*AGENTRT, "--sim", str(script_path), "-s", "workspace-write"], session_env(home), repo
    )
    term.wait_for(r"^› ", timeout=30)
    return term, time.perf_counter() - began


def time_to_show(term: Terminal, text: str, timeout: float = 10.0) -> float:
    began = time.perf_counter()
    term.type(text)
    while text not in term.visible():
        if time.perf_counter() - began > timeout:
            raise AssertionError(f"{text!r} never showed")
        time.sleep(0.002)
    return time.perf_counter() - began


def measure_ready(work: Path, runs: int) -> None:
    walls, peaks = [], []
    for i in range(runs):
        term, wall = start(work, [{"content": "hi"}], f"ready{i}")
        walls.append(wall)
        peaks.append(memory_mib(agentrt_pid(term))[0])
        term.close()
    print(f"ready: wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}); "
          f"peak RSS median {statistics.median(peaks):.1f} MiB (max {max(peaks):.1f})  [targets 0.5 s, 60 MiB]")  # fmt: skip


def measure_twenty(work: Path) -> None:
    term, _ = start(work, twenty_turns(), "twenty")
    try:
        for n in range(1, 21):
            term.type(f"turn {n} please")
            term.keys("Enter")
            term.wait_for(rf"Done with turn {n}\.", timeout=30)
            term.wait_for(r"^tokens: input", count=n, timeout=30)
        peak, now = memory_mib(agentrt_pid(term))
        print(f"after 20 turns: peak RSS {peak:.1f} MiB, current {now:.1f} MiB  [target 64 MiB]")
    finally:
        term.close()


def measure_echo(work: Path) -> None:
    words = " ".join(f"w{i}" for i in range(3000))
    long_call = {"name": "shell", "arguments": {"command": ["sleep", "3"]}}
    script = [{"content": "", "tool_calls": [long_call]}, {"content": f"Streaming now.\n\n{words}\n\nend"}]
    term, _ = start(work, script, "echo")
    try:
        term.type("run it")
        term.keys("Enter")
        term.wait_for(r"\$ sleep 3")
        running = [time_to_show(term, f"k{i}") for i in range(10)]
        term.wait_for(r"Streaming now\.", timeout=30)
        streaming = [time_to_show(term, f"q{i}") for i in range(10)]
        term.keys("Escape")
        term.wait_for(r"interrupted")
    finally:
        term.close()
    for label, times in (("while a command runs", running), ("while a turn streams", streaming)):
        print(f"echo {label}: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
              f"(10 keys; includes tmux's own capture, ~5-10 ms)")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="starts measured for 'ready' (default 5)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentrt-interactive-bench-") as tmp:
        work = Path(tmp)
        measure_ready(work, args.runs)
        measure_twenty(work)
        measure_echo(work)


if __name__ == "__main__":
    main()
