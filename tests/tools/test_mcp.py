"""The MCP client (``agentrt.tools.mcp``) against real servers, through real ``agentrt exec`` runs.

The servers: ``tests/mcp_servers/echo_server.py`` (the SDK's own server: echo, slow, fail, crash, hang, a
side-effect tool, a resource), ``mcp-server-git`` from PyPI on a temporary repository, and the echo server
over streamable HTTP on 127.0.0.1. The model is ``tests/capture_server.py``: it answers from a script of
calls and texts and keeps every request, so the tests read the tools offered and the results returned.
Every test also checks that no server process outlives the run (``--pidfile``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capture_server import CaptureServer, capture_server

pytestmark = pytest.mark.slow

ECHO = Path(__file__).resolve().parents[1] / "mcp_servers" / "echo_server.py"


def write_config(home: Path, url: str, servers: str, extra: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "m"\nmodel_provider = "cap"\nmodel_context_window = 32768\n{extra}\n'
        f'[model_providers.cap]\nname = "capture"\nbase_url = "{url}"\nwire_api = "responses"\n'
        f"requires_api_key = false\n\n{servers}"
    )


def echo_server(name: str, pidfile: Path, *args: str, extra: str = "") -> str:
    """A ``[mcp_servers.NAME]`` table for the echo server. Its start-up may take 60 s unless ``extra``
    says otherwise: agentrt's default of 10 s was passed on a loaded machine (the first request then
    went out without the server's tools, and the scripted call to them failed as unknown)."""
    argv = json.dumps([str(ECHO), "--pidfile", str(pidfile), *args])
    if "startup_timeout_sec" not in extra:
        extra = f"startup_timeout_sec = 60\n{extra}"
    return f'[mcp_servers.{name}]\ncommand = "{sys.executable}"\nargs = {argv}\n{extra}\n'


def agentrt_env(home: Path, **more: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    return keep | {"AGENTRT_HOME": str(home)} | more


def run_exec(
    home: Path, cwd: Path, *flags: str, env: dict[str, str] | None = None, timeout: float = 90
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-m", "agentrt", "exec", "--json", "--skip-git-repo-check", *flags, "go"],
        cwd=cwd, env=env or agentrt_env(home), capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done, events


def items(events: list[dict[str, Any]], kind: str, phase: str = "item.completed") -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == phase and e["item"]["type"] == kind]


def outputs(server: CaptureServer) -> list[str]:
    """The function-call outputs of the last request, in order."""
    last = server.requests[-1].body["input"]
    return [str(i["output"]) for i in last if i.get("type") == "function_call_output"]


def tool_names(server: CaptureServer, n: int = 0) -> list[str]:
    return [t.get("name", t.get("type")) for t in server.requests[n].body.get("tools", [])]


def alive(pidfile: Path) -> list[int]:
    """The server pids recorded in ``pidfile`` that still run (zombies count as gone)."""
    if not pidfile.exists():
        return []
    left = []
    for pid in map(int, pidfile.read_text().split()):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.append(pid)
    return left


def assert_none_left(pidfile: Path) -> None:
    deadline = time.monotonic() + 3
    while alive(pidfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pidfile.exists(), "the server never started: the check would prove nothing"
    assert alive(pidfile) == [], "an MCP server outlived the session"


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    cwd = tmp_path / "work"
    cwd.mkdir()
    yield cwd
    for pidfile in tmp_path.glob("*.pids"):  # never leave a server behind, even when a test fails
        for pid in alive(pidfile):
            os.kill(pid, signal.SIGKILL)


def test_tools_are_offered_as_server__tool_and_a_result_reaches_the_model(tmp_path: Path, work: Path) -> None:
    pids = tmp_path / "echo.pids"
    script = [
        {"calls": [{"name": "echo__echo", "arguments": {"text": "hi"}}]},
        {
            "calls": [
                {
                    "name": "echo__configure",
                    "arguments": {"items": [{"key": "a", "value": 2}], "mode": "fast"},
                }
            ]
        },
        {"calls": [{"name": "echo__fail", "arguments": {"message": "m"}}]},
        {"calls": [{"name": "read_mcp_resource", "arguments": {"server": "echo", "uri": "note://readme"}}]},
        {"text": "done"},
    ]
    with capture_server(script) as server:
        write_config(tmp_path / "home", server.url, echo_server("echo", pids))
        done, events = run_exec(tmp_path / "home", work)
        assert done.returncode == 0, done.stderr
        names = tool_names(server)
        assert {
            "echo__echo",
            "echo__configure",
            "echo__note",
            "list_mcp_resources",
            "read_mcp_resource",
        } <= set(names)
        configure = next(t for t in server.requests[0].body["tools"] if t.get("name") == "echo__configure")
        params = configure["parameters"]
        text = json.dumps(params)
        assert "$ref" not in text and "anyOf" not in text and "title" not in text and "default" not in text
        assert params["properties"]["items"]["items"]["properties"]["key"] == {
            "type": "string"
        }  # $ref inlined
        assert params["properties"]["mode"] == {"type": "string", "enum": ["fast", "safe"]}
        assert params["properties"]["label"] == {"type": "string"}  # anyOf [string, null]
        assert params["required"] == ["items"]
        assert outputs(server)[0] == "echo: hi"  # every output so far reaches the model
        assert server.requests[2].body["input"][-1]["output"] == "fast:None:a=2"
        assert "failed on purpose: m" in server.requests[3].body["input"][-1]["output"]
        assert "hello from the readme" in server.requests[4].body["input"][-1]["output"]
    calls = items(events, "mcp_tool_call")
    assert [(c["server"], c["tool"], c["status"]) for c in calls] == [
        ("echo", "echo", "completed"),
        ("echo", "configure", "completed"),
        ("echo", "fail", "failed"),
        ("echo", "read_mcp_resource", "completed"),
    ]
    first = calls[0]
    assert first["arguments"] == {"text": "hi"} and first["error"] is None
    assert first["result"]["content"] == [{"type": "text", "text": "echo: hi"}]
    started = items(events, "mcp_tool_call", "item.started")
    assert started[0] == {**first, "result": None, "status": "in_progress"}
    assert_none_left(pids)


def test_a_server_that_fails_to_start_is_reported_once_and_the_session_goes_on(
    tmp_path: Path, work: Path
) -> None:
    pids = tmp_path / "s.pids"
    servers = (
        echo_server("echo", pids, "--startup-delay", "0.5")
        + echo_server("stuck", pids, "--never-start", extra="startup_timeout_sec = 1.5")
        + '[mcp_servers.missing]\ncommand = "/nonexistent/server"\n'
        + '[mcp_servers.off]\ncommand = "/nonexistent/other"\nenabled = false\n'
    )
    script = [{"calls": [{"name": "echo__echo", "arguments": {"text": "x"}}]}, {"text": "done"}]
    with capture_server(script) as server:
        write_config(tmp_path / "home", server.url, servers)
        started = time.monotonic()
        done, events = run_exec(tmp_path / "home", work)
        took = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        names = tool_names(server)
        assert "echo__echo" in names and not any(
            n.startswith(("stuck__", "missing__", "off__")) for n in names
        )
        assert outputs(server) == ["echo: x"]
    errors = [i["message"] for i in items(events, "error")]
    assert len(errors) == 2, errors  # once each; the disabled server is not started at all
    assert any("`stuck` failed to start: timed out after 1.5 s" in e for e in errors)
    assert any("`missing` failed to start" in e and "/nonexistent/server" in e for e in errors)
    assert took < 15, "the stuck server held the session past its startup timeout"
    assert_none_left(pids)


def test_a_server_that_crashes_mid_call_fails_the_call_and_the_session_goes_on(
    tmp_path: Path, work: Path
) -> None:
    pids = tmp_path / "c.pids"
    script = [
        {"calls": [{"name": "echo__crash", "arguments": {}}]},
        {"calls": [{"name": "echo__echo", "arguments": {"text": "again"}}]},
        {"text": "done"},
    ]
    with capture_server(script) as server:
        write_config(tmp_path / "home", server.url, echo_server("echo", pids))
        done, events = run_exec(tmp_path / "home", work)
        assert done.returncode == 0, done.stderr
        crash, again = outputs(server)
    assert crash.startswith("error: the MCP server 'echo' went away")
    assert again.startswith("error: MCP server 'echo' is not available (failed")
    assert [c["status"] for c in items(events, "mcp_tool_call")] == ["failed", "failed"]
    assert items(events, "mcp_tool_call")[0]["error"]["message"] == crash.removeprefix("error: ")
    assert_none_left(pids)


def test_a_hanging_tool_is_bounded_by_tool_timeout_sec(tmp_path: Path, work: Path) -> None:
    pids = tmp_path / "h.pids"
    script = [
        {"calls": [{"name": "echo__hang", "arguments": {}}]},
        {"calls": [{"name": "echo__echo", "arguments": {"text": "still here"}}]},
        {"text": "done"},
    ]
    with capture_server(script) as server:
        write_config(tmp_path / "home", server.url, echo_server("echo", pids, extra="tool_timeout_sec = 1"))
        started = time.monotonic()
        done, events = run_exec(tmp_path / "home", work)
        took = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        assert outputs(server) == ["error: timed out after 1 s (tool_timeout_sec)", "echo: still here"]
    assert took < 20
    assert items(events, "mcp_tool_call")[0]["status"] == "failed"
    assert_none_left(pids)


@pytest.mark.parametrize("policy", ["untrusted", "on-request", "never", "on-failure"])
def test_a_call_with_side_effects_goes_through_the_approval_policy(
    tmp_path: Path, work: Path, policy: str
) -> None:
    """exec answers every question with a denial: ``note`` (no read-only hint) is refused where the policy
    asks, and runs where it does not; ``echo`` (read-only) always runs."""
    pids, notes = tmp_path / "a.pids", tmp_path / "notes.txt"
    script = [
        {"calls": [{"name": "echo__note", "arguments": {"text": "written"}}]},
        {"calls": [{"name": "echo__echo", "arguments": {"text": "read"}}]},
        {"text": "done"},
    ]
    with capture_server(script) as server:
        write_config(tmp_path / "home", server.url, echo_server("echo", pids, "--notes", str(notes)))
        done, events = run_exec(tmp_path / "home", work, "-a", policy)
        assert done.returncode == 0, done.stderr
        note, echo = outputs(server)
    asks = policy in ("untrusted", "on-request")
    assert echo == "echo: read"
    if asks:
        assert note == "error: user rejected MCP tool call" and not notes.exists()
        assert items(events, "mcp_tool_call")[0]["error"] == {"message": "user rejected MCP tool call"}
    else:
        assert note == "noted: written" and notes.read_text() == "written\n"
    assert_none_left(pids)


def test_a_stdio_server_gets_the_environment_policy_and_no_secret_it_was_not_given(
    tmp_path: Path, work: Path
) -> None:
    pids = tmp_path / "e.pids"
    servers = echo_server("plain", pids) + echo_server(
        "given", pids, extra='env_vars = ["GIVEN_TOKEN"]\n[mcp_servers.given.env]\nMY_SETTING = "on"'
    )
    script = [
        {
            "calls": [
                {"name": "plain__env", "arguments": {"name": "SECRET_TOKEN"}},
                {"name": "plain__env", "arguments": {"name": "GIVEN_TOKEN"}},
                {"name": "plain__env", "arguments": {"name": "PLAIN_VAR"}},
                {"name": "given__env", "arguments": {"name": "GIVEN_TOKEN"}},
                {"name": "given__env", "arguments": {"name": "MY_SETTING"}},
                {"name": "given__env", "arguments": {"name": "SECRET_TOKEN"}},
            ]
        },
        {"text": "done"},
    ]
    env = agentrt_env(tmp_path / "home", SECRET_TOKEN="s3cret", GIVEN_TOKEN="g1ven", PLAIN_VAR="plain")
    with capture_server(script) as server:
        write_config(tmp_path / "home", server.url, servers)
        done, _ = run_exec(tmp_path / "home", work, env=env)
        assert done.returncode == 0, done.stderr
        assert outputs(server) == ["<unset>", "<unset>", "plain", "g1ven", "on", "<unset>"]
    assert_none_left(pids)


def test_interrupting_the_run_mid_call_stops_every_server(tmp_path: Path, work: Path) -> None:
    pids = tmp_path / "i.pids"
    script = [{"calls": [{"name": "echo__hang", "arguments": {}}]}, {"text": "done"}]
    with capture_server(script) as server:
        write_config(tmp_path / "home", server.url, echo_server("echo", pids) + echo_server("two", pids))
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentrt", "exec", "--json", "--skip-git-repo-check", "go"],
            cwd=work, env=agentrt_env(tmp_path / "home"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:  # until the hanging call is under way
            if '"mcp_tool_call"' in line and "item.started" in line:
                break
        time.sleep(0.3)
        assert len(alive(pids)) == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
    assert_none_left(pids)


def test_mcp_server_git_from_pypi_on_a_temporary_repository(tmp_path: Path, work: Path) -> None:
    exe = shutil.which("mcp-server-git", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("mcp-server-git is not installed (it is in the [dev] extra)")
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(repo)], check=True)
    (repo / "a.txt").write_text("hello\n")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "first commit"], check=True)
    (repo / "b.txt").write_text("new\n")
    script = [
        {"calls": [{"name": "git__git_status", "arguments": {"repo_path": str(repo)}}]},
        {"calls": [{"name": "git__git_log", "arguments": {"repo_path": str(repo), "max_count": 1}}]},
        {"text": "done"},
    ]
    with capture_server(script) as server:
        servers = f'[mcp_servers.git]\ncommand = "{exe}"\nargs = ["--repository", "{repo}"]\nstartup_timeout_sec = 20\n'
        write_config(tmp_path / "home", server.url, servers)
        done, events = run_exec(tmp_path / "home", work)
        assert done.returncode == 0, done.stderr
        assert {"git__git_status", "git__git_log", "git__git_commit"} <= set(tool_names(server))
        status, log = outputs(server)
    assert "trunk" in status and "b.txt" in status
    assert "first commit" in log
    assert [c["tool"] for c in items(events, "mcp_tool_call")] == ["git_status", "git_log"]


def test_a_streamable_http_server_on_loopback(tmp_path: Path, work: Path) -> None:
    portfile, pids = tmp_path / "port", tmp_path / "http.pids"
    proc = subprocess.Popen(
        [sys.executable, str(ECHO), "--http", "0", "--portfile", str(portfile), "--pidfile", str(pids)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not portfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        port = int(portfile.read_text())
        script = [{"calls": [{"name": "web__echo", "arguments": {"text": "over http"}}]}, {"text": "done"}]
        with capture_server(script) as server:
            servers = (
                f'[mcp_servers.web]\nurl = "http://127.0.0.1:{port}/mcp"\nbearer_token_env_var = "WEB_TOKEN"\n'
                '[mcp_servers.web.http_headers]\nX-Test = "1"\n'
            )
            write_config(tmp_path / "home", server.url, servers)
            done, events = run_exec(
                tmp_path / "home", work, env=agentrt_env(tmp_path / "home", WEB_TOKEN="t0k")
            )
            assert done.returncode == 0, done.stderr
            assert outputs(server) == ["echo: over http"]
        assert items(events, "mcp_tool_call")[0]["server"] == "web"
    finally:
        proc.kill()
        proc.wait()


def test_a_missing_bearer_token_variable_fails_that_server_only(tmp_path: Path, work: Path) -> None:
    pids = tmp_path / "b.pids"
    servers = (
        echo_server("echo", pids)
        + '[mcp_servers.web]\nurl = "http://127.0.0.1:9/mcp"\nbearer_token_env_var = "NO_SUCH_VAR"\n'
    )
    script = [{"calls": [{"name": "echo__echo", "arguments": {"text": "x"}}]}, {"text": "done"}]
    with capture_server(script) as server:
        write_config(tmp_path / "home", server.url, servers)
        done, events = run_exec(tmp_path / "home", work)
        assert done.returncode == 0, done.stderr
        assert outputs(server) == ["echo: x"]
    [error] = [i["message"] for i in items(events, "error")]
    assert "`web` failed to start" in error and "NO_SUCH_VAR" in error
    assert_none_left(pids)


def test_a_bad_server_entry_is_an_error_naming_it(tmp_path: Path, work: Path) -> None:
    with capture_server([{"text": "done"}]) as server:
        write_config(tmp_path / "home", server.url, '[mcp_servers.oops]\nargs = ["x"]\n')
        done, _ = run_exec(tmp_path / "home", work)
    assert done.returncode == 2
    assert "mcp_servers.oops" in done.stderr and "command" in done.stderr
