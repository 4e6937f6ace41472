"""What the MCP client costs (issue 14's targets), measured on this machine.

(a) Session start with no MCP server: peak RSS of ``agentrt exec --sim`` (one answer, no tools) with this
    tree against the same run of the last commit (``git archive HEAD``), median of 5 runs each; the
    target is "unchanged within 1 MiB". Also with one server configured, to show what the SDK costs.
(b) Two stdio servers configured (``tests/mcp_servers/echo_server.py`` with startup delays 0.3 s and
    0.8 s): time from the servers' start to the first model request, against the slowest server's own
    startup (spawn → tool list, as the hub measured it); target: first request ≤ slowest + 50 ms.
(c) A tool call's overhead: ``echo`` through agentrt's tool (``McpTool.run``: approval check, item
    events, result formatting) against the SDK's bare ``call_tool`` on the same connection (which is the
    server's own time plus the transport); target ≤ 5 ms.

Run: ``.venv/bin/python benchmarks/mcp.py`` (needs the ``[mcp]`` extra).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# Run as a script, this file's directory leads sys.path, and this file (mcp.py) would hide the SDK's `mcp`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT / "tests"))
ECHO = ROOT / "tests" / "mcp_servers" / "echo_server.py"


def peak_rss_mib(src: Path, home: Path, cwd: Path, script: Path) -> float:
    env = {**os.environ, "AGENTRT_HOME": str(home), "PYTHONPATH": str(src)}
    argv = [
        sys.executable,
        "-m",
        "agentrt",
        "exec",
        "--skip-git-repo-check",
        "--ephemeral",
        "--sim",
        str(script),
        "hi",
    ]
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read().decode() if proc.stderr else ""
    return usage.ru_maxrss / 1024


def part_a(tmp: Path) -> None:
    base = tmp / "base"
    base.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "HEAD", "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
    script = tmp / "s.json"
    script.write_text(json.dumps([{"content": "done"}]))
    empty, served = tmp / "h0", tmp / "h1"
    empty.mkdir()
    served.mkdir()
    (served / "config.toml").write_text(
        f'[mcp_servers.echo]\ncommand = "{sys.executable}"\nargs = ["{ECHO}"]\n'
    )
    runs: dict[str, list[float]] = {"before (HEAD)": [], "now, no server": [], "now, one server": []}
    for _ in range(5):
        runs["before (HEAD)"].append(peak_rss_mib(base / "src", empty, tmp, script))
        runs["now, no server"].append(peak_rss_mib(ROOT / "src", empty, tmp, script))
        runs["now, one server"].append(peak_rss_mib(ROOT / "src", served, tmp, script))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print("(a) peak RSS of `agentrt exec --sim` (one answer), median of 5:")
    for label, value in med.items():
        print(f"    {label:<16} {value:7.1f} MiB")
    diff = med["now, no server"] - med["before (HEAD)"]
    print(
        f"    no server vs before: {diff:+.2f} MiB (target: within 1 MiB) -> {'ok' if abs(diff) <= 1 else 'MISSED'}"
    )
    print(
        f"    one server vs none: {med['now, one server'] - med['now, no server']:+.1f} MiB (the SDK, loaded only then)"
    )


def part_b(tmp: Path) -> None:
    from agentrt.agent.session import ExecOptions, run_exec
    from agentrt.tools import mcp
    from capture_server import capture_server

    hubs: list[mcp.McpHub] = []
    original = mcp.McpHub.start

    def keep(self: mcp.McpHub) -> None:
        hubs.append(self)
        original(self)

    mcp.McpHub.start = keep  # type: ignore[method-assign]
    arrivals: list[float] = []
    rows = []
    for attempt in range(3):
        home = tmp / f"hb{attempt}"
        home.mkdir()
        with capture_server([{"text": "done"}]) as server:
            servers = "".join(
                f'[mcp_servers.s{i}]\ncommand = "{sys.executable}"\nargs = ["{ECHO}", "--startup-delay", "{d}"]\n'
                for i, d in enumerate((0.3, 0.8))
            )
            (home / "config.toml").write_text(
                f'model = "m"\nmodel_provider = "cap"\nmodel_context_window = 32768\n[model_providers.cap]\n'
                f'name = "c"\nbase_url = "{server.url}"\nwire_api = "responses"\nrequires_api_key = false\n{servers}'
            )
            handler_seen = len(server.requests)
            options = ExecOptions(cwd=tmp, skip_git_repo_check=True, ephemeral=True, prompt="hi")
            env = {**os.environ, "AGENTRT_HOME": str(home)}
            watcher = _Arrival(server, handler_seen, arrivals)
            watcher.start()
            assert run_exec(options, env, io.StringIO(), io.StringIO()) == 0
            watcher.join()
        hub = hubs[-1]
        failed = [f"{n}: {s.error}" for n, s in hub.servers.items() if s.state != "stopped"]
        if failed:
            print("    servers that did not start:", failed)
        slowest = max(s.ready_at for s in hub.servers.values()) - hub.started_at
        first = arrivals[-1] - hub.started_at
        own = max(s.startup_s or 0 for s in hub.servers.values())
        rows.append((first, slowest, own))
    mcp.McpHub.start = original  # type: ignore[method-assign]
    print("(b) two stdio servers (startup delays 0.3 s, 0.8 s); seconds from the hub's start:")
    for first, slowest, own in rows:
        verdict = "ok" if first <= slowest + 0.050 else "MISSED"
        print(
            f"    first request {first:6.3f}  slowest server up {slowest:6.3f} (its own startup {own:6.3f}):"
            f" {1000 * (first - slowest):+6.1f} ms (target <= +50 ms) -> {verdict}"
        )


class _Arrival:
    """Polls the capture server for its first request and notes when it came (same clock, same process)."""

    def __init__(self, server: Any, seen: int, out: list[float]) -> None:
        import threading

        self.server, self.seen, self.out = server, seen, out
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + 30
        while len(self.server.requests) <= self.seen and time.monotonic() < deadline:
            time.sleep(0.0005)
        self.out.append(time.monotonic())


async def part_c() -> None:
    from agentrt.events import ItemIds, Recorder
    from agentrt.tools.mcp import McpHub, ServerConfig
    from agentrt.tools.registry import ToolContext, ToolRegistry

    registry, sink = ToolRegistry([]), Recorder()
    ctx = ToolContext(Path.cwd(), sink.emit, ItemIds())

    async def never(argv: Any, cwd: str, reason: str) -> str | None:
        return None

    server = ServerConfig("echo", command=sys.executable, args=(str(ECHO),))
    hub = McpHub(
        [server], env=dict(os.environ), cwd=Path.cwd(), registry=lambda: registry, ctx=lambda: ctx,
        policy=lambda: "untrusted", ask=never,
    )  # fmt: skip
    hub.start()
    await hub.ready()
    tool = registry.tools["echo__echo"]
    client = hub.servers["echo"].client
    n = 300
    for _ in range(20):  # warm both paths
        await tool.run({"text": "x"}, ctx)
        await client.call_tool("echo", {"text": "x"})
    bare, ours = [], []
    for _ in range(n):
        t = time.perf_counter()
        await client.call_tool("echo", {"text": "x"})
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        await tool.run({"text": "x"}, ctx)
        ours.append(time.perf_counter() - t)
    await hub.close()
    b, o = statistics.median(bare) * 1000, statistics.median(ours) * 1000
    print(
        f"(c) `echo`, median of {n}: SDK call_tool {b:.3f} ms (server + transport), agentrt's tool {o:.3f} ms"
    )
    print(f"    overhead {o - b:+.3f} ms per call (target <= 5 ms) -> {'ok' if o - b <= 5 else 'MISSED'}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        part_a(Path(tmp))
        part_b(Path(tmp))
    asyncio.run(part_c())


if __name__ == "__main__":
    main()
