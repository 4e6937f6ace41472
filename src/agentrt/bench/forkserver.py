"""The warm pytest server: imports pytest once, freezes its heap, forks one child per test run.

``agentrt.bench.executor.ForkExecutor`` runs this file as a script,
``python -B -P forkserver.py CONFINE_PY FD``, so the server's ``sys.modules`` holds the standard
library, pytest and agentrt's Landlock helper (``CONFINE_PY``, loaded by path) and nothing of agentrt
itself (``-P``: not even this file's directory on ``sys.path``). ``FD`` is its end of a Unix
``SOCK_SEQPACKET`` pair with the runtime. Importing this module does nothing by itself.

Start-up: ask for SIGKILL when the runtime dies; ``import pytest``; run pytest on a passing and on a
failing test in a scratch directory (this loads every plugin module a real run needs, and fills the
per-process caches a failing run's report reads), then forget what those runs imported from there
and put ``sys.path`` and ``sys.meta_path`` back; ``gc.collect()`` and
``gc.freeze()`` (a child's collections then never walk, nor copy, the inherited heap); send
``{"ready": true}``.

Per argument list, the first request also makes a ``_Prebuilt`` pytest config before its fork: the
plugin registration every run would otherwise repeat (~12 ms of ~50 ms a child); each child takes
its own copy of it in place of the one pytest would build, and does the rest of pytest's start-up
(rootdir, ini file, conftests, options) in its workspace as a spawned run does. With it comes the
plan of the child's fixture scans (``_FixtureScans``): which plugins hold no fixture to find, and
which to scan as a stand-in that holds only their fixtures (a child's CPU per run fell by about a
third, alternating runs on one machine).

Protocol: one JSON object per message. A request ``{"id", "cwd", "env", "args", "confine"}`` comes
with two descriptors (SCM_RIGHTS): the write ends of the run's stdout and stderr pipes. The server
forks and answers ``{"id", "pid"}`` (or ``{"id", "error"}`` when it cannot fork); when the child has
exited it answers ``{"id", "status", "cpu_s", "maxrss_kib"}`` from ``os.wait4``: the raw wait status,
the child's user+sys CPU and its peak RSS. End of file on the socket (the runtime closed it or died)
kills every child's group and ends the server.

The child, before pytest: its own session (so its own process group), SIGKILL when the server dies,
stdin on /dev/null and the two pipes as fds 1 and 2, every other descriptor closed, ``chdir`` to the
workspace, ``os.environ`` replaced by the run's environment (``tempfile``'s cached directory
replaced by the run's private ``TMPDIR``, or forgotten so that ``tempfile`` looks as in a spawned
run), then with ``confine`` (the Landlock helper's options) the helper's own ``confine()`` applied
to itself: pids cgroup, rlimits, protected paths, no-new-privs, no capabilities, Landlock (writes
only in the workspace and its private TMPDIR), seccomp (no ``socket()``). A confinement that cannot
be put in place ends the child with status 126 and one ``agentrt-sandbox:`` line, as the helper
does. What confinement repeats for every child is made once in the server (``_Confiner``): the
helper's C library and, per kind of run, the first Landlock layer with the read rules
(``ReadLayer``), the one descriptor the child keeps open until it has restricted itself. A test file
the server was asked to run before (a retry's) is taken as the server rewrote and compiled it
(``_Rewritten``) rather than rewritten again. Then, as ``python -m pytest ARGS`` would: the
workspace first on ``sys.path``, pytest's ``__main__`` through ``runpy``, ``atexit`` handlers,
``os._exit`` with pytest's status. Whatever the solution imports or changes lives and dies in that
child: the next child is forked from the untouched server.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import importlib.util
import json
import marshal
import os
import runpy
import selectors
import signal
import socket
import sys
import tempfile
from types import CodeType, ModuleType
from typing import Any

_PR_SET_PDEATHSIG = 1
_MAX_MESSAGE = 1 << 20
_WARM_ARGS = ("-q", "--tb=short", "-p", "no:cacheprovider")
_WARM_RUNS = (
    ("test_agentrt_warm_pass.py", 0, "def test_warm():\n    assert [1, 2] == [1, 2]\n"),
    (
        "test_agentrt_warm_fail.py",
        1,
        "def pair(x):\n    return [x, x + 1]\n\n\n"
        "def test_warm():\n    assert pair(2) == pair(1), 'differs'\n",
    ),
)
"""The warm-up runs: file name, the status pytest must end with, the test. The failing one warms
what a failing run does (its assertion's explanation, the traceback's sources: ``inspect`` maps
every imported module's file once per process, ~2 ms that each failing child would repeat)."""
_MAX_PREBUILT = 4


def _load_helper(path: str) -> ModuleType:
    """agentrt's Landlock helper (``sandbox/confine.py``, standard library only), loaded by path."""
    spec = importlib.util.spec_from_file_location("agentrt_confine", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _warm(pytest: ModuleType) -> None:
    """The warm-up runs (``_WARM_RUNS``) in a scratch directory; what they imported from there is
    forgotten after."""
    modules, path, meta_path = set(sys.modules), list(sys.path), list(sys.meta_path)
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryDirectory(prefix="agentrt-warm-") as scratch:
        with open(os.path.join(scratch, "pytest.ini"), "w", encoding="utf-8") as f:
            f.write("[pytest]\n")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
        os.chdir(scratch)
        try:
            for name, expected, text in _WARM_RUNS:
                with open(name, "w", encoding="utf-8") as f:
                    f.write(text)
                code = pytest.main([*_WARM_ARGS, name])
                if code != expected:
                    raise RuntimeError(f"the warm-up pytest run of {name} ended with status {code}")
        finally:
            os.chdir("/")
            for fd, old in zip((1, 2), saved, strict=True):
                os.dup2(old, fd)
                os.close(old)
    for name in set(sys.modules) - modules:
        if not _keep(name, sys.modules[name], scratch):
            del sys.modules[name]
    sys.path[:], sys.meta_path[:] = path, meta_path


def _keep(name: str, module: ModuleType | None, scratch: str) -> bool:
    """Whether a module the warm-up run imported stays imported for every child: pytest's own, and
    the interpreter's and installed packages' modules that pytest loads as it configures itself
    (``pdb`` and ``readline`` for its debugging plugin, ``faulthandler``…), which every spawned run
    imports alike; never one from the scratch directory (the warm-up test) or of unknown origin."""
    if name.startswith(("_pytest", "pytest", "pluggy", "iniconfig", "packaging")):
        return True
    if name in sys.builtin_module_names:
        return True
    origin = getattr(module, "__file__", None)
    if not isinstance(origin, str):
        return False
    origin = os.path.realpath(origin)
    roots = {
        os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    }
    return not origin.startswith(os.path.realpath(scratch) + os.sep) and any(
        origin.startswith(root + os.sep) for root in roots
    )


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.send(json.dumps(message).encode())


class _Prebuilt:
    """pytest's ``Config`` for one argument list, its plugins registered, made in the server before
    the forks: what ``_pytest.config.get_config`` does first thing in every run (~12 ms of a child's
    ~50 ms: registering some thirty plugin modules and collecting their options).

    A child hands it to its own pytest in place of ``get_config``'s fresh one (``install``), with its
    own invocation directory; everything after (the rootdir and ini file, the conftests, the options
    parsed, configure, collection) runs in the child as in a spawned run. The server never uses it:
    each child changes only its own copy. Where this pytest builds its config differently, or the run's
    environment differs in what registration reads, the child builds its own.

    It also plans which of a child's fixture scans can be skipped or narrowed (``_FixtureScans``)."""

    __slots__ = ("args", "config", "environ", "kwargs", "original", "scans")

    _READS_ENV = ("PYTEST_DEBUG", "TOX_ENV_DIR")
    """The environment that registering pytest's own plugins reads (tracing; the cache plugin's dir)."""

    def __init__(self, args: tuple[str, ...]) -> None:
        import inspect

        import _pytest.config as pytest_config

        self.original = pytest_config.get_config
        self.args = list(args)
        self.kwargs: dict[str, str] = {}
        if "prog" in inspect.signature(self.original).parameters:
            # as ``python -m pytest`` calls it: ``sys.argv[0]`` is then pytest's ``__main__.py``
            name = getattr(pytest_config, "_get_prog_name", None)
            self.kwargs["prog"] = name(["__main__.py"]) if name is not None else "python -m pytest"
        self.environ = {name: os.environ.get(name) for name in self._READS_ENV}
        self.config = self.original(list(args), None, **self.kwargs)
        self.scans = _FixtureScans(self.config.pluginmanager.get_plugins())

    def install(self) -> None:
        """In the child: let ``get_config`` return this config for the call it was made for."""
        import pathlib

        import _pytest.config as pytest_config

        prebuilt, original = self, self.original

        def get_config(args: Any = None, plugins: Any = None, **kwargs: Any) -> Any:
            if not prebuilt.fits(args, plugins, kwargs):
                return original(args, plugins, **kwargs)
            config = prebuilt.config
            config.invocation_params = pytest_config.Config.InvocationParams(
                args=args or (), plugins=plugins, dir=pathlib.Path.cwd()
            )
            return config

        pytest_config.get_config = get_config
        self.scans.install()

    def fits(self, args: Any, plugins: Any, kwargs: dict[str, Any]) -> bool:
        return (
            plugins is None
            and isinstance(args, list)
            and args == self.args
            and kwargs == self.kwargs
            and all(os.environ.get(name) == value for name, value in self.environ.items())
        )


class _FixtureScans:
    """What a child's fixture scans can skip, worked out once in the server.

    As a session starts, pytest scans every registered plugin (some thirty modules and objects) for
    fixtures (``FixtureManager.parsefactories``: every attribute, looked up and as stored, with its
    ``__wrapped__`` chain) and finds fixtures in a handful; that was about a third of a child's CPU.
    Here each plugin module or class in the pre-built config is scanned the same way once: one with
    no fixture is skipped, one with fixtures is scanned as a stand-in module holding only those
    attributes (the same objects, so the same fixtures, registered in the same order); an instance
    is skipped when its class (where the scan looks attributes up) is one of pytest's own classes
    without a fixture; a collection node only when handed as a plugin (``holder=``: the session),
    not as a node (then it stands for the object it collects).
    A plugin of any other kind, or a module with its own ``__dir__`` (the names the scan walks), is
    scanned as usual. Empty where this pytest has no ``getfixturemarker``."""

    __slots__ = ("holders", "nodes", "types")

    def __init__(self, plugins: Any) -> None:
        self.holders: dict[int, tuple[object, ModuleType | None]] = {}
        """``id(plugin)`` -> the plugin and its stand-in (``None``: nothing to scan)."""
        self.types: dict[int, type] = {}
        """``id(cls)`` -> one of pytest's classes whose instances hold no fixture."""
        self.nodes: dict[int, type] = {}
        """``id(cls)`` -> one of pytest's node classes without a fixture: an instance handed to the
        scan as a plugin (``holder=``, as the session is) holds none; handed as a node it stands
        for the object it collects and is scanned as usual."""
        try:
            from _pytest.compat import safe_getattr
            from _pytest.fixtures import getfixturemarker
        except ImportError:
            return
        self._plan(plugins, _FixtureFinder(getfixturemarker, safe_getattr))

    def _plan(self, plugins: Any, find: _FixtureFinder) -> None:
        for plugin in plugins:
            if isinstance(plugin, ModuleType) and "__dir__" not in vars(plugin):
                names = find.names(plugin)
                self.holders[id(plugin)] = (plugin, _stand_in(plugin, names) if names else None)
            elif isinstance(plugin, type) and not find.names(plugin):
                self.holders[id(plugin)] = (plugin, None)
        from _pytest.nodes import Node  # a node handed to the scan stands for the object it collects

        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith("_pytest."):
                continue
            for value in list(vars(module).values()):
                if isinstance(value, type) and value.__module__ == name and not find.names(value):
                    (self.nodes if issubclass(value, Node) else self.types)[id(value)] = value

    def install(self) -> None:
        """In the child: ``FixtureManager.parsefactories`` skips, or scans the stand-in, as planned
        (whichever way this pytest passes the plugin: ``holder=`` or first positional)."""
        if not self.holders and not self.types:
            return
        from _pytest.fixtures import FixtureManager

        original, holders, types_, nodes = FixtureManager.parsefactories, self.holders, self.types, self.nodes

        def parsefactories(manager: Any, *args: Any, **kwargs: Any) -> Any:
            keyword = "holder" in kwargs
            holder = kwargs["holder"] if keyword else (args[0] if args else None)
            planned = holders.get(id(holder))
            if planned is not None and planned[0] is holder:
                if planned[1] is None:
                    return None
                if keyword:
                    kwargs["holder"] = planned[1]
                else:
                    args = (planned[1], *args[1:])
            elif not isinstance(holder, (ModuleType, type)) and type(holder) in (
                types_.get(id(type(holder))),
                nodes.get(id(type(holder))) if keyword else None,
            ):
                return None
            return original(manager, *args, **kwargs)

        FixtureManager.parsefactories = parsefactories  # type: ignore[method-assign,assignment]


class _FixtureFinder:
    """The names where pytest's fixture scan of a module or class finds a fixture, or a wrapper
    around one (the scan follows ``__wrapped__``)."""

    __slots__ = ("marker", "safe_getattr")

    def __init__(self, marker: Any, safe_getattr: Any) -> None:
        self.marker, self.safe_getattr = marker, safe_getattr

    def names(self, scanned: ModuleType | type) -> list[str]:
        stored = [vars(scanned)] if isinstance(scanned, ModuleType) else [vars(c) for c in scanned.__mro__]
        found = []
        for name in dir(scanned):
            raw = next((d[name] for d in stored if name in d), None)
            if self._fixture(self.safe_getattr(scanned, name, None)) or self._fixture(raw):
                found.append(name)
        return found

    def _fixture(self, value: object) -> bool:
        import inspect

        if self.marker(value) is not None:
            return True
        if self.safe_getattr(value, "__wrapped__", None) is None:
            return False
        try:
            inner = inspect.unwrap(value, stop=lambda o: self.marker(o) is not None)  # type: ignore[arg-type]
        except Exception:  # a loop, or an object that raises: not provably plain
            return True
        return self.marker(inner) is not None


class _Rewritten:
    """Test modules as pytest's assertion rewriting compiles them, made by the server for a test
    file it is asked to run a second time (a retry's, a repeat's) and taken by the children that run
    it, instead of rewriting it themselves (the rewrite is a child's largest single step: ~10 ms).

    The server reads each test file a request names (relative ``.py`` arguments; no symlink, a
    regular file of at most 1 MiB), counts its BLAKE2b digest, and at the second sighting rewrites
    and compiles it as pytest does (``rewrite_asserts`` without a config: the assertion pass hook
    off), unless that warns (a kept module would not warn again). A child takes a kept module only
    for a source whose digest it computes itself from the file it loads, with the pass hook off,
    under its own file name. Nothing goes from a child to the server: what a run's own code does
    cannot change what another run takes. The newest ``_KEEP_BYTES`` worth are kept."""

    __slots__ = ("entries", "seen", "size")

    _KEEP_BYTES = 64 << 20
    _MAX_SOURCE = 1 << 20
    _MAX_SEEN = 100_000
    _NAME = "<agentrt-kept>"

    def __init__(self) -> None:
        self.entries: dict[bytes, bytes | None] = {}
        """Digest -> the marshalled code (``None``: the rewrite warned, not kept)."""
        self.seen: set[bytes] = set()
        self.size = 0

    def prepare(self, cwd: str, args: list[str]) -> None:
        """In the server, before a fork: count the request's test files, keep those seen before."""
        for arg in args:
            if arg.startswith("-") or not arg.endswith(".py") or os.path.isabs(arg):
                continue
            source = _read_plain(os.path.join(cwd, arg), self._MAX_SOURCE)
            if source is None:
                continue
            digest = hashlib.blake2b(source, digest_size=32).digest()  # built in: no OpenSSL state
            if digest in self.entries:
                continue
            if digest not in self.seen:
                if len(self.seen) >= self._MAX_SEEN:
                    self.seen.clear()
                self.seen.add(digest)
                continue
            self._keep(digest, source)

    def _keep(self, digest: bytes, source: bytes) -> None:
        import ast
        import warnings

        from _pytest.assertion.rewrite import rewrite_asserts

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                tree = ast.parse(source, filename=self._NAME)
                rewrite_asserts(tree, source, self._NAME, None)
                code = compile(tree, self._NAME, "exec", dont_inherit=True)
        except Exception:  # a file that does not compile: each child says so itself
            self.entries[digest] = None
            return
        if caught:
            self.entries[digest] = None
            return
        data = marshal.dumps(code)
        self.entries[digest] = data
        self.size += len(data)
        while self.size > self._KEEP_BYTES:
            dropped = self.entries.pop(next(iter(self.entries)))
            self.size -= len(dropped or b"")

    def install(self) -> None:
        """In the child: pytest's ``_rewrite_test`` takes a kept module where there is one."""
        if self.size == 0:  # none kept (not walking the entries: a child would copy their pages)
            return
        import _pytest.assertion.rewrite as rewrite

        original, entries = rewrite._rewrite_test, self.entries

        def rewrite_test(fn: Any, config: Any) -> tuple[bytes, object]:
            hook = config is not None and bool(config.getini("enable_assertion_pass_hook"))
            source = None if hook else _read_plain(str(fn), self._MAX_SOURCE)
            kept = None
            if source is not None:
                kept = entries.get(hashlib.blake2b(source, digest_size=32).digest())
            if source is None or kept is None:
                return original(fn, config)
            return importlib.util.source_hash(source), _retarget(marshal.loads(kept), str(fn))

        rewrite._rewrite_test = rewrite_test  # type: ignore[assignment]


def _read_plain(path: str, limit: int) -> bytes | None:
    """The bytes of ``path`` where it is a regular file (not a symlink) of at most ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (info.st_mode & 0o170000) != 0o100000 or info.st_size > limit:
            return None
        chunks = []
        while chunk := os.read(fd, limit + 1):
            chunks.append(chunk)
        data = b"".join(chunks)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _retarget(code: CodeType, filename: str) -> CodeType:
    """``code`` and the code objects inside it, compiled as from ``filename``."""
    consts = tuple(_retarget(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _stand_in(module: ModuleType, names: list[str]) -> ModuleType:
    """A module holding only ``names`` of ``module``'s attributes (the same objects)."""
    stand_in = ModuleType(module.__name__, module.__doc__)
    vars(stand_in).update({name: vars(module)[name] for name in names if name in vars(module)})
    return stand_in


def _prebuilt(cache: dict[tuple[str, ...], _Prebuilt | None], args: tuple[str, ...]) -> _Prebuilt | None:
    """The pre-built config for ``args`` (made on first use; ``None`` where it cannot be made)."""
    if args not in cache:
        if len(cache) >= _MAX_PREBUILT:
            cache.clear()
        try:
            cache[args] = _Prebuilt(args)
        except Exception:  # any pytest where this does not work: the children build their own
            cache[args] = None
        gc.collect()
        gc.freeze()  # as the rest of the server's heap: never walked by a child's collections
    return cache[args]


class _Confiner:
    """The Landlock helper and what it prepares once in the server for every child it confines: its
    C library (``syscalls``) and the shared first Landlock layers (``ReadLayers``), which spare each
    child listing directories and adding some hundred read rules (~2.5 of its ~4.5 ms of
    confinement)."""

    __slots__ = ("helper", "layers", "libc")

    def __init__(self, helper: ModuleType) -> None:
        self.helper = helper
        self.libc = helper.syscalls()
        self.layers = helper.ReadLayers(self.libc)

    def plan(self, options: list[str] | None) -> _Plan | None:
        """In the server, before the fork: the run's options parsed, its read layer chosen."""
        if options is None:
            return None
        try:
            opts = self.helper.parse_args([*options, "--", "pytest"])
        except self.helper.SetupError as exc:
            return _Plan(None, None, str(exc))
        return _Plan(opts, self.layers.for_options(opts), None)

    def apply(self, plan: _Plan) -> None:
        """In the child: confine itself as planned (``SetupError`` or ``OSError`` when it cannot)."""
        if plan.opts is None:
            raise self.helper.SetupError(plan.error)
        try:
            self.helper.confine(plan.opts, libc=self.libc, layer=plan.layer)
        finally:
            if plan.layer is not None:
                os.close(plan.layer.fd)


class _Plan:
    __slots__ = ("error", "layer", "opts")

    def __init__(self, opts: Any, layer: Any, error: str | None) -> None:
        self.opts, self.layer, self.error = opts, layer, error


def _child(
    request: dict[str, Any],
    fds: list[int],
    confiner: _Confiner,
    plan: _Plan | None,
    prebuilt: _Prebuilt | None,
    rewritten: _Rewritten,
) -> None:
    """Become the test run (module docstring) and exit; never returns."""
    code = 1
    try:
        code = _prepare_child(request, fds, confiner, plan)
        if code == 0:
            if prebuilt is not None:
                prebuilt.install()
            rewritten.install()
            code = _run_pytest(request["cwd"], request["args"])
    except BaseException as exc:  # the child must never unwind into the server's loop
        os.write(2, f"agentrt-forkserver: {type(exc).__name__}: {exc}\n".encode())
    finally:
        os._exit(code if isinstance(code, int) else 1)


def _prepare_child(request: dict[str, Any], fds: list[int], confiner: _Confiner, plan: _Plan | None) -> int:
    """Session, lifetime, descriptors, directory, environment, confinement; 0 or the exit status."""
    server = os.getppid()
    os.setsid()
    confiner.helper.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, libc=confiner.libc)
    if os.getppid() != server:
        return 126
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    _close_descriptors(keep=None if plan is None or plan.layer is None else plan.layer.fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = _known_tempdir(request["env"], plan.opts.writable if plan and plan.opts else None)
    if plan is not None:
        try:
            confiner.apply(plan)
        except (confiner.helper.SetupError, OSError) as exc:
            os.write(2, f"agentrt-sandbox: {exc}\n".encode())
            return 126
    return 0


def _close_descriptors(keep: int | None) -> None:
    """Close every descriptor from 3 up but ``keep`` (the read layer the child restricts itself with)."""
    if keep is None:
        os.closerange(3, 1 << 20)
    else:
        os.closerange(3, keep)
        os.closerange(keep + 1, 1 << 20)


def _known_tempdir(env: dict[str, str], writable: list[str] | None) -> str | None:
    """The run's ``TMPDIR`` where it is one of the directories its confinement lets it write
    (``writable``, the helper's parsed ``--write`` paths: the run's private temporary directory),
    else ``None``: ``tempfile`` then looks for one itself, as in a spawned run, by writing and
    removing a probe file in each candidate (~2 ms in a child)."""
    tmpdir = env.get("TMPDIR")
    if not tmpdir or writable is None:
        return None
    return os.path.abspath(tmpdir) if tmpdir in writable and os.path.isdir(tmpdir) else None


def _run_pytest(cwd: str, args: list[str]) -> int:
    """What ``python -m pytest ARGS`` in ``cwd`` does, in this process; its exit status."""
    sys.path.insert(0, cwd)
    sys.argv = ["-m", *args]
    try:
        runpy.run_module("pytest", run_name="__main__", alter_sys=True)
        code: object = 0
    except SystemExit as stop:
        code = stop.code
    finally:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


class _Server:
    """The loop: requests on the socket, exits of children through their pidfds."""

    def __init__(self, sock: socket.socket, helper: ModuleType) -> None:
        self.sock = sock
        self.confiner = _Confiner(helper)
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, tuple[object, int]] = {}
        """pidfd -> (request id, pid)."""
        self.prebuilt: dict[tuple[str, ...], _Prebuilt | None] = {}
        """Argument list -> its pre-built pytest config (``_Prebuilt``)."""
        self.rewritten = _Rewritten()

    def serve(self) -> None:
        self.selector.register(self.sock, selectors.EVENT_READ, None)
        try:
            while True:
                for key, _ in self.selector.select():
                    if key.data is not None:
                        self._reap(key.fd)
                    elif not self._accept():
                        return
        finally:
            self._kill_all()

    def _accept(self) -> bool:
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, _MAX_MESSAGE, 2)
        except ConnectionError:
            return False
        if not data:
            return False
        request = json.loads(data)
        try:
            pid = self._fork(request, fds)
        except OSError as exc:
            _send(self.sock, {"id": request["id"], "error": f"fork: {exc.strerror or exc}"})
            return True
        finally:
            for fd in fds:
                os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (request["id"], pid)
        self.selector.register(pidfd, selectors.EVENT_READ, pid)
        _send(self.sock, {"id": request["id"], "pid": pid})
        return True

    def _fork(self, request: dict[str, Any], fds: list[int]) -> int:
        if len(fds) != 2:
            raise OSError(0, f"expected 2 descriptors, got {len(fds)}")
        prebuilt = _prebuilt(self.prebuilt, tuple(request["args"]))
        plan = self.confiner.plan(request.get("confine"))
        self.rewritten.prepare(request["cwd"], request["args"])
        pid = os.fork()
        if pid == 0:
            _child(request, fds, self.confiner, plan, prebuilt, self.rewritten)
        return pid

    def _reap(self, pidfd: int) -> None:
        rid, pid = self.children.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status, usage = os.wait4(pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        _send(self.sock, {"id": rid, "status": status, "cpu_s": cpu, "maxrss_kib": usage.ru_maxrss})

    def _kill_all(self) -> None:
        for pidfd, (_, pid) in list(self.children.items()):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            os.close(pidfd)
        self.children.clear()


def main(argv: list[str]) -> None:
    """``forkserver.py CONFINE_PY FD`` (module docstring)."""
    helper = _load_helper(argv[0])
    sock = socket.socket(fileno=int(argv[1]))
    runtime = os.getppid()
    helper.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != runtime:
        return
    import pytest

    _warm(pytest)
    gc.collect()
    gc.freeze()
    sys.stdout.flush()
    sys.stderr.flush()
    _send(sock, {"ready": True, "pid": os.getpid()})
    _Server(sock, helper).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
