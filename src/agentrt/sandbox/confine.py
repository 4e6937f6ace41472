"""agentrt's Landlock helper: confine this process, then run one command under it and supervise it.

``LandlockSandbox`` runs this file as a script (``python -I -S confine.py [OPTIONS] -- CMD...``), so
it imports only the standard library: it must start fast and must not depend on agentrt being
importable without ``site``. Other agentrt modules import it for its syscall wrappers
(``landlock_abi``, ``prctl``, ``drop_capabilities``); importing it does nothing by itself.

What the script does, in order, before it runs ``CMD``:

0. first of all, asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), then
   checks that its parent is still ``--parent PID`` (the runtime that started it; default: the
   parent it sees at that moment). A parent that died before the request sends no signal, but
   leaves the helper re-parented, which that check sees: the helper then exits without running
   anything. The signal is SIGTERM, not SIGKILL, so that the supervisor (step 7) can kill the
   command's processes before it dies; nothing of a run may outlive the runtime;
1. ``--cgroup FILE``: writes its pid to that ``cgroup.procs`` (a pids cgroup bounds the processes);
2. ``--rlimit NAME=N``: sets each resource limit (soft = hard = N);
3. ``--protect PATH``: in a private mount namespace, re-binds each existing PATH read-only (Landlock
   cannot take write access away from a subtree of a writable root; a user namespace is added when
   not running as root); then hides each existing ``--deny-read PATH`` that lies inside a ``--write``
   root (an empty read-only tmpfs on a directory, /dev/null on a file), for the same reason: a
   writable root's rule grants reading all of it. It refuses to run when this is impossible;
4. sets ``PR_SET_NO_NEW_PRIVS`` and drops every capability (bounding, ambient, effective, permitted,
   inheritable), so a root runtime's children cannot read its memory or environment through /proc;
5. applies a Landlock ruleset at the highest ABI the kernel has: read and execute everywhere but
   the ``--deny-read`` paths (``read_rules``), write only beneath the ``--write`` paths (none inside
   a denied path) and on /dev/null; TCP bind/connect handled with no rule (ABI >= 4) and signals
   and abstract Unix sockets scoped to the sandbox (ABI >= 6) unless ``--network``; it refuses to
   run when Landlock is not enforced. (A process that forks many children to confine, the fork
   server, makes the read rules once as a shared first layer, ``ReadLayer``; each child adds a
   layer of its own for its writes: the same accesses, in two layers);
6. without ``--network``, installs a seccomp filter: ``socket()`` fails with EPERM for every family,
   AF_UNIX included (Landlock cannot tell a host daemon's socket path from one in the workspace, so
   no Unix socket can be opened; ``socketpair()`` still works), and io_uring is refused (its requests
   would bypass the socket filter); on ABI < 3 it also refuses ``truncate()``, which Landlock does
   not cover there;
7. becomes a child subreaper, forks, execs ``CMD`` in the child (which dies with the helper), waits
   for it while reaping adopted orphans, then SIGKILLs every remaining descendant (daemons that
   left the process group included) and exits with the command's status, or dies by its signal.
   A SIGTERM/SIGINT/SIGHUP to the helper is forwarded to every descendant, unless the parent is
   gone (step 0's SIGTERM): then it SIGKILLs every descendant and exits.

Setup failures print one ``agentrt-sandbox:`` line on stderr and exit 126; an executable that is not
found exits 127. ``--limits-only`` stops after step 2 and execs ``CMD`` directly (used in front of
bwrap when ``prlimit`` is missing); step 0's request then holds for ``CMD`` until it makes its own
(bwrap's ``--die-with-parent``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import struct
import sys
import time

# typing, dataclasses and collections.abc would cost the helper ~20 ms of start-up per command,
# and ``signal`` 3 ms for its enum classes: the helper uses ``_signal``, its C half, instead.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable, Iterable, Sequence
    from typing import NoReturn
else:
    try:
        import _signal as signal
    except ImportError:  # not CPython
        import signal

EXIT_SETUP = 126
EXIT_NOT_FOUND = 127
_HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
"""The signals the supervisor handles (and its command gets back at their defaults)."""

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2

SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REFER = 1 << 13
FS_TRUNCATE = 1 << 14
FS_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
# statvfs flag -> mount flag that a read-only remount must keep (locked in a user namespace).
_KEPT_MOUNT_FLAGS = ((2, 2), (4, 4), (8, 8), (1024, 1024), (2048, 2048), (4096, 1 << 21))

# seccomp / BPF
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_EPERM = 0x00050000 | errno.EPERM
_IO_URING = (425, 426, 427)
# machine -> (AUDIT_ARCH, socket nr, truncate nr, x32 syscall bit or 0)
_ARCHES = {
    "x86_64": (0xC000003E, 41, 76, 0x40000000),
    "aarch64": (0xC00000B7, 198, 45, 0),
}

RLIMITS = {  # the limit names --rlimit takes; agentrt.sandbox.limits uses the same table
    "cpu": resource.RLIMIT_CPU,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
    "nproc": resource.RLIMIT_NPROC,
    "as": resource.RLIMIT_AS,
}


_VALUED_OPTIONS = ("--write", "--protect", "--deny-read", "--rlimit", "--cgroup", "--parent")


class SetupError(Exception):
    """Confinement could not be put in place; the command must not run."""


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result == -1:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def syscall(number: int, *args: int, libc: ctypes.CDLL | None = None) -> int:
    """Call syscall ``number`` with integer (or address) arguments; raise ``OSError`` on failure.

    Loading ``libc`` costs ~25 us: a caller making many calls passes one (``_syscall_libc``).
    """
    libc = _syscall_libc() if libc is None else libc
    return _check(
        libc.syscall(ctypes.c_long(number), *(ctypes.c_ulong(a) for a in args)), f"syscall {number}"
    )


def _syscall_libc() -> ctypes.CDLL:
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    return libc


def prctl(
    option: int,
    arg2: int = 0,
    arg3: int = 0,
    arg4: int = 0,
    arg5: int = 0,
    *,
    libc: ctypes.CDLL | None = None,
) -> int:
    """``prctl(2)``; raise ``OSError`` on failure. A caller making many calls passes one ``libc``
    (loading it costs more than the call: ~60 us a time in a forked child)."""
    args = (ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5))
    libc = _libc() if libc is None else libc
    return _check(libc.prctl(ctypes.c_int(option), *args), f"prctl {option}")


def landlock_abi(*, libc: ctypes.CDLL | None = None) -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable or disabled."""
    try:
        return syscall(SYS_LANDLOCK_CREATE_RULESET, 0, 0, LANDLOCK_CREATE_RULESET_VERSION, libc=libc)
    except OSError:
        return 0


def _fs_rights(abi: int) -> int:
    """Every filesystem right this ABI can restrict (IOCTL_DEV stays unhandled: reads of devices work)."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    return rights


def _add_path_rules(
    ruleset: int, rules: Sequence[tuple[str, int]], *, libc: ctypes.CDLL, missing_ok: bool = False
) -> None:
    """Grant each ``(path, access)`` beneath its path (file rights only, for a file).

    One attribute buffer and one argument tuple serve every rule: with hundreds of rules (denied
    reads) the ctypes conversions would cost more than the syscalls. ``missing_ok``: a path gone
    since it was listed is skipped rather than refused.
    """
    attr = ctypes.create_string_buffer(12)  # struct landlock_path_beneath_attr: u64, s32, packed
    numbers = (SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, ctypes.addressof(attr), 0)
    call = (ctypes.c_long(numbers[0]), *(ctypes.c_ulong(n) for n in numbers[1:]))
    for path, access in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            if missing_ok:
                continue
            raise
        try:
            if not _is_dir_fd(fd):
                access &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE
            struct.pack_into("=Qi", attr, 0, access, fd)
            _check(libc.syscall(*call), f"landlock_add_rule {path}")
        finally:
            os.close(fd)


def _is_dir_fd(fd: int) -> bool:
    return (os.fstat(fd).st_mode & 0o170000) == 0o040000


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def outermost_existing(paths: Sequence[str]) -> list[str]:
    """The real paths of those of ``paths`` that exist, less each one inside another (hidden with it)."""
    real = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    out: list[str] = []
    for path in real:
        if not any(_within(path, kept) for kept in out):
            out.append(path)
    return out


def read_rules(denied: Sequence[str]) -> list[tuple[str, int]]:
    """Landlock rules (path, access) granting read and execute everywhere except beneath ``denied``.

    Landlock only grants, so "everything but X" is built: each directory on the way from ``/`` to a
    denied path is *expanded*: it gets list-only access (READ_DIR) and each entry in it, except the
    next step on the way, gets full read access. So, inside the sandbox:

    * ``ls /``, ``ls ~`` and the other expanded directories work; since READ_DIR is inherited by
      everything beneath, the names inside a denied directory can be listed too, but no file in it
      can be opened for reading or executed;
    * an entry created in an expanded directory after the command started (or replaced there by a
      rename) has no rule, so it cannot be read; symlinks get no rule of their own, since access is
      decided at the path they resolve to; an entry the runtime cannot list stays unreadable;
    * a hard link to a denied file from elsewhere is readable: Landlock sees the path it was opened by.

    ``denied`` must be real paths (``outermost_existing``); with none the rule is one read rule on ``/``.
    """
    if not denied:
        return [("/", FS_READ)]
    if "/" in denied:
        return []
    expanded = expanded_directories(denied)
    skip = expanded | set(denied)
    rules: list[tuple[str, int]] = []
    for directory in sorted(expanded):
        rules.append((directory, FS_READ_DIR))
        rules += [(path, FS_READ) for path in _plain_entries(directory) if path not in skip]
    return rules


def expanded_directories(denied: Sequence[str]) -> set[str]:
    """The directories ``read_rules`` lists: each one on the way from ``/`` to a denied path."""
    expanded = {os.path.dirname(d) for d in denied if d != "/"}
    for directory in list(expanded):
        while directory != "/":
            directory = os.path.dirname(directory)
            expanded.add(directory)
    return expanded


def _plain_entries(directory: str) -> list[str]:
    """The paths in ``directory`` that are not symlinks; none when it cannot be listed."""
    try:
        with os.scandir(directory) as it:
            return [entry.path for entry in it if not entry.is_symlink()]
    except OSError:
        return []


def apply_landlock(
    writable: Sequence[str], *, network: bool, denied: Sequence[str] = (), libc: ctypes.CDLL | None = None
) -> int:
    """Restrict this process (and what it execs) to reads everywhere but ``denied`` and writes under
    ``writable``.

    ``denied`` are real paths outside every writable root (``read_rules``). Needs
    ``PR_SET_NO_NEW_PRIVS`` first. Returns the ABI used; raises ``SetupError`` when the kernel
    cannot enforce it (Landlock missing or disabled).
    """
    libc = _syscall_libc() if libc is None else libc
    abi = _enforced_abi(libc)
    fs = _fs_rights(abi)
    try:
        ruleset = _new_ruleset(abi, fs, network=network, libc=libc)
        try:
            _add_rules(ruleset, denied, [w for w in writable if os.path.exists(w)], fs, libc=libc)
            syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0, libc=libc)
        finally:
            os.close(ruleset)
    except OSError as exc:
        raise SetupError(f"Landlock is not enforced: {exc}") from None
    return abi


def _add_rules(
    ruleset: int, denied: Sequence[str], full: Sequence[str], fs: int, *, libc: ctypes.CDLL
) -> None:
    """The single layer's rules: reads everywhere but ``denied``, every right ``fs`` beneath each of
    ``full``, reading and writing /dev/null."""
    _add_path_rules(ruleset, read_rules(denied), libc=libc, missing_ok=True)
    _add_path_rules(ruleset, [(path, fs) for path in full], libc=libc)
    _add_path_rules(ruleset, [("/dev/null", FS_READ_FILE | FS_WRITE_FILE | (fs & FS_TRUNCATE))], libc=libc)


def _enforced_abi(libc: ctypes.CDLL) -> int:
    abi = landlock_abi(libc=libc)
    if abi < 1:
        raise SetupError("Landlock is not available in this kernel (enable CONFIG_SECURITY_LANDLOCK)")
    return abi


def _new_ruleset(abi: int, fs: int, *, network: bool, libc: ctypes.CDLL, scope: bool = True) -> int:
    """A ruleset handling ``fs``, and unless ``network`` TCP bind/connect (ABI >= 4) and
    abstract-socket scoping (ABI >= 6); with ``scope``, signals scoped (ABI >= 6)."""
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 and not network else 0
    scoped = (SCOPE_SIGNAL if scope else 0) | (0 if network else SCOPE_ABSTRACT_UNIX_SOCKET)
    scoped = scoped if abi >= 6 else 0
    attr = (ctypes.c_uint64 * 3)(fs, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    return syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.addressof(attr), size, 0, libc=libc)


class ReadLayer:
    """The first of two Landlock layers, made once by a process that forks many children to confine
    (the fork server) and shared by them, so that no child lists directories and adds some hundred
    read rules of its own.

    It handles every right ``apply_landlock``'s single layer handles and grants what that layer
    grants but the writable paths: reads everywhere but ``denied`` (``read_rules``), /dev/null; and
    every right beneath each of ``roots``, the directories that hold the children's writable paths.
    A child restricts itself with it, then with a layer of its own handling only the rights beyond
    reading, granted beneath its writable paths and on /dev/null (``apply_landlock_layered``). An
    access passes only where both layers allow it, so a child reads as the single layer would let it
    and writes only beneath its own paths, as the single layer would let it. That holds where no
    denied path lies within a root nor a root within a denied path (``make`` refuses) and while the
    directories ``read_rules`` listed are as they were (``current``: else the layer is made again).
    """

    __slots__ = ("abi", "denied", "fd", "roots", "watched")

    def __init__(
        self, abi: int, fd: int, denied: tuple[str, ...], roots: tuple[str, ...], watched: dict[str, int]
    ) -> None:
        self.abi, self.fd, self.denied, self.roots, self.watched = abi, fd, denied, roots, watched

    @classmethod
    def make(
        cls, denied: Sequence[str], roots: Sequence[str], *, network: bool, libc: ctypes.CDLL
    ) -> ReadLayer | None:
        """The layer for ``denied`` (real paths: ``outermost_existing``) and ``roots`` (real
        directories), or ``None`` where it would grant more than the single layer."""
        if not roots or any(_within(r, d) or _within(d, r) for r in roots for d in denied):
            return None
        abi = _enforced_abi(libc)
        fs = _fs_rights(abi)
        watched = _mtimes(expanded_directories(denied) if denied else set())
        ruleset = _new_ruleset(abi, fs, network=network, libc=libc)
        try:
            _add_rules(ruleset, denied, roots, fs, libc=libc)
        except BaseException:
            os.close(ruleset)
            raise
        return cls(abi, ruleset, tuple(denied), tuple(roots), watched)

    def current(self) -> bool:
        """Whether the directories ``read_rules`` listed still hold what they held (their mtimes).
        An entry made within the same tick of the file system's clock as the listing goes unseen:
        children then cannot read it, as if made after they started (never more than allowed)."""
        return _mtimes(self.watched) == self.watched

    def covers(self, denied: Sequence[str], real_writable: Sequence[str]) -> bool:
        """Whether it was made for ``denied`` and its roots hold every one of ``real_writable``."""
        return tuple(denied) == self.denied and all(
            any(_within(w, r) for r in self.roots) for w in real_writable
        )

    def close(self) -> None:
        os.close(self.fd)


class ReadLayers:
    """The ``ReadLayer`` for each kind of child a forking process confines (deny list, roots,
    network), made on first use, made again when stale; the few most recent are kept."""

    __slots__ = ("_layers", "libc")

    _KEEP = 8

    def __init__(self, libc: ctypes.CDLL) -> None:
        self.libc = libc
        self._layers: dict[tuple[tuple[str, ...], tuple[str, ...], bool], ReadLayer] = {}

    def for_options(self, opts: Options) -> ReadLayer | None:
        """The layer a child confined with ``opts`` can use, or ``None`` (it makes its own single one)."""
        if opts.limits_only:
            return None
        denied = outermost_existing(opts.deny_read)
        roots = tuple(sorted({os.path.dirname(real) for _, real in _writable(opts.writable, denied)}))
        key = (tuple(denied), roots, opts.network)
        layer = self._layers.pop(key, None)
        if layer is not None and not layer.current():
            layer.close()
            layer = None
        if layer is None:
            try:
                layer = ReadLayer.make(denied, roots, network=opts.network, libc=self.libc)
            except (SetupError, OSError):
                layer = None  # each child then meets the problem itself, and says so
            if layer is None:
                return None
        self._layers[key] = layer
        while len(self._layers) > self._KEEP:
            self._layers.pop(next(iter(self._layers))).close()
        return layer


def _writable(paths: Sequence[str], denied: Sequence[str]) -> list[tuple[str, str]]:
    """``(path, real path)`` of each of ``paths`` that is not inside a denied path (those stay
    unwritable)."""
    pairs = [(path, os.path.realpath(path)) for path in paths]
    return [(path, real) for path, real in pairs if not any(_within(real, d) for d in denied)]


def _mtimes(directories: Iterable[str]) -> dict[str, int]:
    found = {}
    for directory in directories:
        try:
            found[directory] = os.stat(directory).st_mtime_ns
        except OSError:
            found[directory] = -1
    return found


def apply_landlock_layered(layer: ReadLayer, writable: Sequence[str], *, libc: ctypes.CDLL) -> int:
    """Restrict this process with ``layer``, then with its own layer: the rights beyond reading,
    beneath ``writable`` (within ``layer``'s roots) and on /dev/null. Returns the ABI used."""
    fs = _fs_rights(layer.abi)
    own = fs & ~FS_READ
    try:
        syscall(SYS_LANDLOCK_RESTRICT_SELF, layer.fd, 0, libc=libc)
        ruleset = _new_ruleset(layer.abi, own, network=True, scope=False, libc=libc)
        try:
            _add_path_rules(ruleset, [(w, own) for w in writable if os.path.exists(w)], libc=libc)
            _add_path_rules(ruleset, [("/dev/null", FS_WRITE_FILE | (fs & FS_TRUNCATE))], libc=libc)
            syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0, libc=libc)
        finally:
            os.close(ruleset)
    except OSError as exc:
        raise SetupError(f"Landlock is not enforced: {exc}") from None
    return layer.abi


def seccomp_filter(
    machine: str, *, deny_sockets: bool, deny_truncate: bool, also_deny: Sequence[int] = ()
) -> bytes:
    """A classic-BPF seccomp program for ``machine`` (``os.uname().machine``), as raw bytes.

    Denied calls fail with EPERM; ``also_deny`` adds syscall numbers to deny. Other architectures
    (e.g. 32-bit syscalls on x86_64) are killed; the x32 ABI gets EPERM.
    """
    if machine not in _ARCHES:
        raise SetupError(f"no seccomp filter for the {machine} architecture")
    arch, socket_nr, truncate_nr, x32 = _ARCHES[machine]
    sockets = (socket_nr, *_IO_URING) if deny_sockets else ()
    denied = sockets + ((truncate_nr,) if deny_truncate else ()) + tuple(also_deny)
    prog: list[tuple[int, int | str, int | str, int]] = [
        (_BPF_LD_W_ABS, 0, 0, 4),
        (_BPF_JEQ_K, 0, "kill", arch),
        (_BPF_LD_W_ABS, 0, 0, 0),
    ]
    if x32:
        prog.append((_BPF_JGE_K, "deny", 0, x32))
    prog += [(_BPF_JEQ_K, "deny", 0, nr) for nr in denied]
    prog.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
    labels = {"deny": len(prog)}
    prog.append((_BPF_RET_K, 0, 0, _RET_EPERM))
    labels["kill"] = len(prog)
    prog.append((_BPF_RET_K, 0, 0, _RET_KILL_PROCESS))
    out = bytearray()
    for index, (code, jt, jf, k) in enumerate(prog):
        jt_off = labels[jt] - index - 1 if isinstance(jt, str) else jt
        jf_off = labels[jf] - index - 1 if isinstance(jf, str) else jf
        out += struct.pack("=HBBI", code, jt_off, jf_off, k)
    return bytes(out)


def apply_seccomp(program: bytes, *, libc: ctypes.CDLL | None = None) -> None:
    """Install a seccomp filter on this thread (``PR_SET_NO_NEW_PRIVS`` must be set)."""
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), libc=libc)


def drop_capabilities(*, libc: ctypes.CDLL | None = None) -> None:
    """Drop every capability from every set; after this even root cannot regain any through exec."""
    libc = _libc() if libc is None else libc
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:  # bytes: no codec to import (~1.5 ms)
        last = int(f.read())
    for cap in range(last + 1):
        try:
            prctl(PR_CAPBSET_DROP, cap, libc=libc)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EINVAL):
                raise
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, libc=libc)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _mount(
    source: str | None, target: str, flags: int, fstype: str | None = None, data: str | None = None
) -> None:
    src = None if source is None else os.fsencode(source)
    kind = None if fstype is None else os.fsencode(fstype)
    opts = None if data is None else os.fsencode(data)
    _check(_libc().mount(src, os.fsencode(target), kind, ctypes.c_ulong(flags), opts), f"mount {target}")


def protect_paths(paths: Sequence[str], hidden: Sequence[str] = ()) -> None:
    """Make each existing path of ``paths`` read-only, then hide each of ``hidden`` (real, existing
    paths: ``outermost_existing``), for this process and its children (private mount namespace)."""
    existing = [os.path.realpath(p) for p in paths if os.path.lexists(p)]
    if not existing and not hidden:
        return
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS if os.geteuid() == 0 else CLONE_NEWNS | CLONE_NEWUSER
    try:
        _check(_libc().unshare(ctypes.c_int(flags)), "unshare")
        if flags & CLONE_NEWUSER:
            _write_file("/proc/self/setgroups", "deny")
            _write_file("/proc/self/uid_map", f"{uid} {uid} 1")
            _write_file("/proc/self/gid_map", f"{gid} {gid} 1")
        _mount(None, "/", MS_REC | MS_PRIVATE)
        for path in existing:
            _bind_read_only(path, path)
        for path in hidden:
            _hide(path)
    except OSError as exc:
        raise SetupError(
            f"cannot keep {', '.join([*existing, *hidden])} read-only or hidden: {exc}"
        ) from None


def _bind_read_only(source: str, target: str) -> None:
    """Bind ``source`` on ``target`` read-only, keeping the flags a user namespace locks on it."""
    kept = os.statvfs(source).f_flag
    extra = sum(ms for st, ms in _KEPT_MOUNT_FLAGS if kept & st)
    _mount(source, target, MS_BIND | MS_REC)
    _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY | extra)


def _hide(path: str) -> None:
    """Cover ``path``: an empty read-only tmpfs on a directory, /dev/null on anything else."""
    if os.path.isdir(path):
        _mount("tmpfs", path, MS_RDONLY | MS_NOSUID | MS_NODEV, "tmpfs", "mode=0755")
    else:
        _bind_read_only("/dev/null", path)


def _write_file(path: str, text: str) -> None:
    """Write ``text`` in one ``write``; bytes, as a text file's codec would be imported first."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


def set_rlimits(limits: Sequence[tuple[str, int]]) -> None:
    """Set each named limit (soft = hard), never above a hard limit this process cannot raise."""
    for name, value in limits:
        which = RLIMITS[name]
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY and os.geteuid() != 0:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (OSError, ValueError) as exc:
            raise SetupError(f"cannot set the {name} limit to {value}: {exc}") from None


class Options:
    """The helper's parsed command line."""

    __slots__ = (
        "argv",
        "cgroup",
        "deny_read",
        "limits_only",
        "network",
        "parent",
        "protected",
        "rlimits",
        "writable",
    )

    def __init__(self) -> None:
        self.writable: list[str] = []
        self.protected: list[str] = []
        self.deny_read: list[str] = []
        self.network = False
        self.rlimits: list[tuple[str, int]] = []
        self.cgroup: str | None = None
        self.limits_only = False
        self.parent: int | None = None
        self.argv: list[str] = []


def parse_args(args: Sequence[str]) -> Options:
    """Parse ``[OPTIONS] -- CMD...``; raise ``SetupError`` on a malformed command line."""
    opts = Options()
    words = list(args)
    while words and words[0] != "--":
        flag = words.pop(0)
        if flag in ("--network", "--limits-only"):
            setattr(opts, flag[2:].replace("-", "_"), True)
            continue
        if not words or flag not in _VALUED_OPTIONS:
            raise SetupError(f"bad option {flag!r}")
        value = words.pop(0)
        if flag == "--parent":
            if not value.isdigit():
                raise SetupError(f"bad parent pid {value!r}")
            opts.parent = int(value)
        elif flag == "--write":
            opts.writable.append(value)
        elif flag == "--protect":
            opts.protected.append(value)
        elif flag == "--deny-read":
            opts.deny_read.append(value)
        elif flag == "--cgroup":
            opts.cgroup = value
        else:
            name, _, number = value.partition("=")
            if name not in RLIMITS or not number.isdigit():
                raise SetupError(f"bad limit {value!r}")
            opts.rlimits.append((name, int(number)))
    if len(words) < 2:
        raise SetupError("no command after --")
    opts.argv = words[1:]
    return opts


def die_with_parent(parent: int) -> None:
    """Step 0 of the module docstring: SIGTERM when ``parent`` dies; ``SetupError`` if it already has.

    Cheap enough to repeat: a credential change may clear the request, so ``supervise`` renews it.
    """
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        raise SetupError(f"its parent process (pid {parent}), the runtime, is gone; not running")


def syscalls() -> ctypes.CDLL:
    """The C library with the functions ``confine`` calls already looked up: made once by a process
    that forks many children to confine (each would otherwise spend ~1 ms loading its own)."""
    libc = _syscall_libc()
    for name in ("prctl", "capset", "syscall"):
        getattr(libc, name)
    return libc


def confine(opts: Options, *, libc: ctypes.CDLL | None = None, layer: ReadLayer | None = None) -> None:
    """Steps 1-6 of the module docstring, applied to this process (``libc``: see ``syscalls``;
    ``layer``: a shared ``ReadLayer`` made for these options, used where it covers the writable
    paths)."""
    if opts.cgroup:
        try:
            _write_file(opts.cgroup, str(os.getpid()))
        except OSError as exc:
            raise SetupError(f"cannot join the pids cgroup: {exc}") from None
    set_rlimits(opts.rlimits)
    if opts.limits_only:
        return
    denied = outermost_existing(opts.deny_read)
    kept = _writable(opts.writable, denied)
    writable, roots = [path for path, _ in kept], [real for _, real in kept]
    inside = [d for d in denied if any(_within(d, root) for root in roots)]
    protect_paths(opts.protected, hidden=inside)
    libc = _syscall_libc() if libc is None else libc  # one for every call below
    prctl(PR_SET_NO_NEW_PRIVS, 1, libc=libc)
    drop_capabilities(libc=libc)
    outside = [d for d in denied if d not in inside]
    if layer is not None and not inside and layer.covers(denied, roots):
        abi = apply_landlock_layered(layer, writable, libc=libc)
    else:
        abi = apply_landlock(writable, network=opts.network, denied=outside, libc=libc)
    if not opts.network or abi < 3:
        program = seccomp_filter(os.uname().machine, deny_sockets=not opts.network, deny_truncate=abi < 3)
        apply_seccomp(program, libc=libc)


def _children_map() -> dict[int, list[int]]:
    """parent pid -> child pids, for every process this one can see."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def descendants(root: int) -> list[int]:
    """Every live or zombie descendant of ``root``."""
    kids = _children_map()
    found: list[int] = []
    stack = [root]
    while stack:
        for kid in kids.get(stack.pop(), ()):
            found.append(kid)
            stack.append(kid)
    return found


def _reap_ready() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _childless() -> bool:
    """True when this (single-threaded) process has no child; then, as a subreaper, no descendant."""
    try:
        with open(f"/proc/self/task/{os.getpid()}/children", "rb") as f:
            return not f.read().strip()
    except OSError:
        return False


def kill_descendants(deadline_s: float = 5.0) -> None:
    """SIGKILL every descendant, reaping them, until none is left (or ``deadline_s`` passed)."""
    if _childless():
        return
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = descendants(os.getpid())
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap_ready()
        time.sleep(0.002)


def _forward(signum: int) -> None:
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def _signal_handler(parent: int) -> Callable[[int, object], None]:
    """Forward the signal to every descendant, or, once ``parent`` is gone, kill them all and exit.

    A SIGTERM from the runtime (a timeout) leaves the command its grace period; the SIGTERM of step 0
    means nobody is left to wait for the command, so nothing of it may go on running.
    """

    def handle(signum: int, _frame: object) -> None:
        if os.getppid() != parent:
            kill_descendants()
            os._exit(128 + signum)
        _forward(signum)

    return handle


def _exec_child(argv: Sequence[str], parent: int) -> NoReturn:
    try:
        for sig in _HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(EXIT_SETUP)
        os.execvp(argv[0], list(argv))
    except OSError as exc:
        code = EXIT_NOT_FOUND if exc.errno in (errno.ENOENT, errno.ENOTDIR) else EXIT_SETUP
        os.write(2, f"agentrt-sandbox: cannot execute {argv[0]!r}: {exc.strerror or exc}\n".encode())
        os._exit(code)
    os._exit(EXIT_SETUP)


def _wait_for(child: int) -> int:
    """Wait for ``child``, reaping adopted orphans meanwhile; its wait status."""
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            return status


def supervise(argv: Sequence[str], parent: int) -> NoReturn:
    """Step 7 of the module docstring; ``parent`` is the process whose death ends everything.

    The handlers are in place, and the signals unblocked (a mask is inherited), before the parent is
    checked again: a parent that dies from then on is seen by the handler.
    """
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    handler = _signal_handler(parent)
    for sig in _HANDLED:
        signal.signal(sig, handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
    try:
        die_with_parent(parent)
    except SetupError as exc:
        os.write(2, f"agentrt-sandbox: {exc}\n".encode())
        os._exit(EXIT_SETUP)
    me = os.getpid()
    child = os.fork()
    if child == 0:
        _exec_child(argv, me)
    try:
        status = _wait_for(child)
    finally:
        kill_descendants()
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(me, number)
        os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status))


def main(args: Sequence[str]) -> NoReturn:
    """Confine this process per ``args``, then run the command (see the module docstring)."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # before anything else: the parent may die any time
        parent = os.getppid()
        opts = parse_args(args)
        parent = parent if opts.parent is None else opts.parent
        die_with_parent(parent)
        confine(opts)
    except (SetupError, OSError) as exc:
        os.write(2, f"agentrt-sandbox: {exc}\n".encode())
        os._exit(EXIT_SETUP)
    if opts.limits_only:
        try:
            os.execvp(opts.argv[0], opts.argv)
        except OSError as exc:
            os.write(2, f"agentrt-sandbox: cannot execute {opts.argv[0]!r}: {exc}\n".encode())
            os._exit(EXIT_NOT_FOUND if exc.errno == errno.ENOENT else EXIT_SETUP)
    supervise(opts.argv, parent)


if __name__ == "__main__":
    main(sys.argv[1:])
