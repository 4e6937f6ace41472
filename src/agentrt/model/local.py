"""The local llama.cpp server's lifecycle: one owner for ``model serve``, ``exec --local`` and ``bench --local``.

``LocalServer`` starts a server process in its own process group on loopback, waits until it
answers ``GET /v1/models``, and on exit stops the whole group (SIGTERM, then SIGKILL). The child is
also asked to die with its parent (``PR_SET_PDEATHSIG``), so even an agentrt killed outright leaves
no server behind. ``guard`` runs a coroutine against the server and turns the server's death in the
middle of it into ``ServerDied`` instead of a run that hangs or retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any, TextIO, TypeVar

from agentrt.model.errors import ModelError
from agentrt.model.models import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_EXTRA_INSTALL,
    ExtrasMissing,
    LocalModelError,
    ModelNotInstalled,
    get_model,
    install_model,
    installed_file,
    model_names,
)
from agentrt.process_group import die_with_parent, signal_group

T = TypeVar("T")
HOST = "127.0.0.1"
DEFAULT_PORT = 8080
PROMPT_CACHE_BYTES = 2 * 2**30
"""The server's prompt cache, each saved state counted whole (``llama_serve``): ~6 states of ~330 MiB
for Qwen2.5 at ``n_batch`` 512. ``local_tps.py``: 1.19x the tokens/s of no cache at concurrency 2, peak
RSS 4.4 GiB (2.6 without); 1 GiB (~3 states) was no faster than none, too few for two agents."""
LOCAL_CONTEXT = 8192
"""The context window an agent's local model is served with (llama.cpp's ``n_ctx``): ``agentrt exec
--local``, ``bench tasks --local``, ``bench swe --local``."""
SERVER_MODULES = (
    "llama_cpp",
    "uvicorn",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)
_BIND_RETRIES = 3


class PortInUse(LocalModelError):
    pass


class ServerStartError(LocalModelError):
    """The server exited, or did not answer, before it was ready."""


class ServerDied(LocalModelError):
    """The server exited while a run was using it."""


def check_server_extras() -> None:
    """``ExtrasMissing`` with the portable install line unless the server's packages are importable."""
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ExtrasMissing(
            f"the local model server needs llama-cpp-python with its server ({', '.join(missing)} "
            f"not installed): {LOCAL_EXTRA_INSTALL}"
        )


def llama_command(
    model_file: Path,
    *,
    alias: str,
    n_ctx: int = 4096,
    n_threads: int = 2,
    extra: Sequence[str] = (),
    python: str = sys.executable,
) -> Callable[[str, int], list[str]]:
    """The argv of llama-cpp-python's server (through ``agentrt.model.llama_serve``) serving ``model_file`` as ``alias``, for a host and port;
    ``extra``: more of the server's options (``--n_batch 256``, ``--cache True``…), last, so they win."""

    def argv(host: str, port: int) -> list[str]:
        return [
            python, "-m", "agentrt.model.llama_serve", "--model", str(model_file), "--model_alias", alias,
            "--host", host, "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
            # prompt processing too (llama-cpp-python's default is every CPU, whatever --n_threads says)
            "--n_threads_batch", str(n_threads),
            "--interrupt_requests", "False",  # queue concurrent requests instead of aborting the running one
            # Keep the state after each reply, restored for a prompt that extends it (an agent's next
            # request): benchmarks/local_tps.py measured 1.13-1.21x the tokens/s of an agent-shaped load
            # at concurrency 2 (follow-ups' first token 27-32 s -> 17-20 s), memory bounded by llama_serve.
            "--cache", "True", "--cache_size", str(PROMPT_CACHE_BYTES),
            *extra,
        ]  # fmt: skip

    return argv


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def listening(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections on ``host:port`` (a loopback probe, instant)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def local_model_for_run(
    flag: str | None, *, base_url: str | None, provider_id: str, provider_url: str, model: str
) -> str | None:
    """The local model a run should start a server for, or ``None`` to use the configured endpoint.

    ``--local`` (``flag``) always starts one. So does ``model_provider = "local"`` with its built-in
    base URL when nothing listens there: ``model`` then names the model (the provider's default
    ``local`` means the default model). A server already listening on port 8080 is used as it is.
    """
    from agentrt.config.providers import LOCAL_BASE_URL

    if flag is not None:
        if base_url:
            raise ValueError("--local starts its own server: leave out --base-url")
        return flag or DEFAULT_LOCAL_MODEL
    if provider_id != "local" or base_url or provider_url.rstrip("/") != LOCAL_BASE_URL:
        return None
    if listening(DEFAULT_PORT):
        return None
    if model in model_names():
        return model
    if model == "local":
        return DEFAULT_LOCAL_MODEL
    raise LocalModelError(
        f"model_provider local: nothing listens at {LOCAL_BASE_URL}, and model {model!r} is not one agentrt "
        f"can serve (known: {', '.join(model_names())}); start your server or pick one of those"
    )


class LocalServer:
    """One server process on loopback; ``async with`` starts it (ready) and stops it (group and all).

    ``command(host, port)`` builds the argv. With ``port=None`` a free port is picked, and another
    one if the server loses the race for it; a given port that is taken raises ``PortInUse``.
    """

    def __init__(
        self,
        command: Callable[[str, int], list[str]],
        *,
        env: Mapping[str, str],
        port: int | None = None,
        host: str = HOST,
        startup_timeout_s: float = 180.0,
        log_path: Path | None = None,
    ) -> None:
        self.command, self.env, self.host = command, dict(env), host
        self.requested_port, self.port = port, port or 0
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self._own_log = log_path is None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the process and return once ``GET /v1/models`` answers 200."""
        if self.requested_port is not None and not port_free(self.requested_port, self.host):
            raise PortInUse(
                f"port {self.requested_port} on {self.host} is taken; pick another with --port "
                "(or leave --port out to use a free one)"
            )
        for attempt in range(_BIND_RETRIES):
            self.port = self.requested_port or free_port(self.host)
            try:
                await self._spawn()
                await self._wait_ready()
                return
            except ServerStartError as exc:
                await self.stop(keep_log=True)
                lost_race = "address already in use" in str(exc).lower()
                if not lost_race or self.requested_port is not None or attempt == _BIND_RETRIES - 1:
                    raise
            except BaseException:
                await self.stop()
                raise
        raise AssertionError("unreachable")

    async def _spawn(self) -> None:
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="agentrt-llama-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.command(self.host, self.port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )

    async def _wait_ready(self) -> None:
        from agentrt.model.http import ConnectionPool, Origin, fetch

        assert self._process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout_s
        origin, pool = Origin.parse(self.base_url), ConnectionPool(2.0)
        try:
            while loop.time() < deadline:
                if self._process.returncode is not None:
                    raise ServerStartError(
                        f"the model server exited with status {self._process.returncode} while starting"
                        f"{self.log_tail()}"
                    )
                with contextlib.suppress(ModelError, OSError):
                    head, _ = await fetch(pool, origin, "GET", "/models", {"Accept": "application/json"})
                    if head.status == 200:
                        return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._process.wait()), 0.25)
        finally:
            pool.close()
        raise ServerStartError(
            f"the model server did not answer on {self.base_url} within {self.startup_timeout_s:g} s"
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 6) -> str:
        """The last lines of the server's log, as ``; its log ends: ...`` (or ``""``)."""
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        return f"; its log ({self.log_path}) ends: " + " | ".join(tail) if tail else ""

    def peak_rss_mib(self) -> float | None:
        """The server's peak resident set (``VmHWM``) while it is still running; ``None`` if unknown."""
        if self._process is None or self._process.returncode is not None:
            return None
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text(encoding="ascii", errors="replace")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    async def stop(self, *, keep_log: bool = False, grace_s: float = 10.0) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL after ``grace_s``. Idempotent."""
        process = self._process
        if process is not None:
            try:
                if process.returncode is None:
                    signal_group(process.pid, signal.SIGTERM)
                    try:
                        await asyncio.wait_for(process.wait(), grace_s)
                    except TimeoutError:
                        pass
            finally:
                signal_group(process.pid, signal.SIGKILL)  # whatever is left in its group
                if process.returncode is None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(process.wait())
        if self._own_log and not keep_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    async def guard(self, aw: Awaitable[T]) -> T:
        """Await ``aw``; if the server exits first, cancel it and raise ``ServerDied``."""
        task = asyncio.ensure_future(aw)
        if self._process is None:
            return await task
        exited = asyncio.ensure_future(self._process.wait())
        try:
            await asyncio.wait((task, exited), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            return await task
        finally:
            exited.cancel()
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise ServerDied(
            f"the model server at {self.base_url} exited with status {self._process.returncode} "
            f"during the run{self.log_tail()}"
        )


@asynccontextmanager
async def serve_model(
    home: Path,
    name: str,
    env: Mapping[str, str],
    *,
    stderr: TextIO,
    port: int | None = None,
    n_ctx: int = 4096,
    n_threads: int = 2,
    server_args: Sequence[str] = (),
    log_path: Path | None = None,
) -> AsyncIterator[LocalServer]:
    """Install ``name`` if needed, start its server (ready), yield it, and stop it on the way out."""
    model = get_model(name)
    check_server_extras()
    try:
        path = installed_file(home, model)
    except ModelNotInstalled:
        print(f"agentrt: installing {model.name} into {home / 'models'}", file=stderr, flush=True)
        path = await asyncio.to_thread(install_model, home, model, progress=ByteProgress(stderr))
    command = llama_command(path, alias=model.name, n_ctx=n_ctx, n_threads=n_threads, extra=server_args)
    server = LocalServer(command, env=env, port=port, log_path=log_path)
    print(f"agentrt: starting the llama.cpp server for {model.name} …", file=stderr, flush=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with server:
        print(
            f"agentrt: {model.name} ready at {server.base_url} in {loop.time() - started:.1f} s "
            f"(pid {server.pid})",
            file=stderr,
            flush=True,
        )
        yield server


class ByteProgress:
    """Assembly progress as one rewritten line on ``stream`` (a line per 10 % when not a terminal)."""

    def __init__(self, stream: TextIO | IO[Any]) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        step = percent if self.tty else percent // 10 * 10
        if step == self.shown:
            return
        self.shown = step
        line = f"assembling: {percent:3d}% ({done / 2**20:,.0f} / {total / 2**20:,.0f} MiB)"
        end = "\r" if self.tty and done < total else "\n"
        self.stream.write(line + end)
        self.stream.flush()
