"""What a sandboxed command may do: ``SandboxPolicy``, built from agentrt's config by ``policy_for``.

The three modes follow Codex:

* ``read-only``          — read anywhere but ``deny_read``, write nowhere but /dev/null, no network;
* ``workspace-write``    — also write beneath ``cwd``, the extra ``writable_roots`` and the private
                           ``tmpdir``; each writable root's ``.git`` (and the directory a ``gitdir:``
                           file points to) and agentrt's home stay read-only; network only when
                           ``[sandbox_workspace_write].network_access = true``;
* ``danger-full-access`` — no sandbox at all.

Unlike Codex, ``/tmp`` is not writable by default: a command gets its own ``TMPDIR`` instead
(``private_tmpdir``), so it cannot leave files for, or read files of, other processes there.
List ``/tmp`` in ``writable_roots`` to allow it.

Reads are denied, in every sandboxed mode, to the secret stores of ``DEFAULT_DENY_READ`` (``~`` is
``$HOME``) and to agentrt's own ``config.toml`` and ``auth.json``, unless ``[sandbox] deny_read``
lists other paths (an empty list reads anywhere, as Codex does). A denial wins inside a writable
root too; for a symlink both the link's path and the real path are listed.

A missing ``.git`` is not protected, so ``git init`` works in a fresh workspace: protecting it would
mean creating a placeholder in the user's tree (bwrap needs a mount point), and an empty ``.git``
file breaks git for the whole subtree. agentrt's home is always protected; the sandboxes create it
(empty, mode 0700) when it is missing, so a command cannot create it and plant a config there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agentrt.config.home import user_home
from agentrt.interfaces import SANDBOX_MODES, SandboxMode
from agentrt.sandbox.hygiene import owned_dir

WORKSPACE_WRITE_KEYS = ("writable_roots", "network_access")
_TABLE = "sandbox_workspace_write"
SANDBOX_KEYS = ("deny_read",)
_SANDBOX_TABLE = "sandbox"
DEFAULT_DENY_READ = (
    "~/.ssh",
    "~/.aws",
    "~/.config/gcloud",
    "~/.azure",
    "~/.kube",
    "~/.docker/config.json",
    "~/.netrc",
    "~/.git-credentials",
    "~/.gnupg",
    "/etc/shadow",
)
"""Secret stores no sandboxed command may read unless ``[sandbox] deny_read`` says otherwise."""
AGENTRT_SECRETS = ("config.toml", "auth.json")
"""agentrt's own files in ``$AGENTRT_HOME`` that the default denies too (credentials, provider keys)."""
_TMP_PREFIX = "agentrt-tmp-"


@dataclass(frozen=True)
class SandboxPolicy:
    """The confinement one command runs under. Paths are absolute."""

    mode: SandboxMode
    cwd: Path
    writable_roots: tuple[Path, ...] = ()
    """Extra writable roots (``[sandbox_workspace_write].writable_roots``); ``cwd`` is implied."""
    network: bool = False
    """Network access; honoured in ``workspace-write`` only."""
    protected: tuple[Path, ...] = ()
    """Read-only even inside a writable root."""
    tmpdir: Path | None = None
    """A private writable temp dir; children get ``TMPDIR`` pointing at it."""
    deny_read: tuple[Path, ...] = ()
    """Unreadable even inside a writable root (``~`` expanded; symlinks listed with their real path)."""

    def __post_init__(self) -> None:
        if self.mode not in SANDBOX_MODES:
            raise ValueError(f"sandbox_mode: expected one of {', '.join(SANDBOX_MODES)}, got {self.mode!r}")
        for path in (self.cwd, *self.writable_roots, *self.protected, *self.deny_read):
            if not path.is_absolute():
                raise ValueError(f"sandbox paths must be absolute, got {str(path)!r}")

    @property
    def sandboxed(self) -> bool:
        """False for ``danger-full-access``."""
        return self.mode != "danger-full-access"

    @property
    def network_allowed(self) -> bool:
        """Whether commands may use the network under this policy."""
        return self.mode == "danger-full-access" or (self.mode == "workspace-write" and self.network)

    def write_roots(self) -> tuple[Path, ...]:
        """Where commands may write (besides /dev/null): nothing in ``read-only``."""
        if self.mode != "workspace-write":
            return ()
        extra = (self.tmpdir,) if self.tmpdir is not None else ()
        return (self.cwd, *self.writable_roots, *extra)


def policy_for(
    mode: str, cwd: Path, *, home: Path, raw: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> SandboxPolicy:
    """The policy for ``mode`` in ``cwd``: ``raw`` is ``Config.raw``, ``home`` is ``Config.home``.

    Validates ``[sandbox_workspace_write]`` (``writable_roots``: a list of absolute paths,
    ``network_access``: a boolean) and ``[sandbox]`` (``deny_read``: a list of absolute or ``~/``
    paths) and raises ``ValueError`` naming the bad key. ``~`` is ``env['HOME']`` (default: this
    process's environment), the home a command run with that environment would look in.
    """
    if mode not in SANDBOX_MODES:
        raise ValueError(f"sandbox_mode: expected one of {', '.join(SANDBOX_MODES)}, got {mode!r}")
    roots, network = _workspace_write_table(raw.get(_TABLE, {}))
    entries = deny_read_entries(raw, home=home)
    user = user_home(os.environ if env is None else env)
    cwd = Path(os.path.abspath(cwd))
    policy = SandboxPolicy(mode, cwd, roots, network, deny_read=expand_deny_read(entries, user))
    return replace(policy, protected=protected_paths(policy, home))


def deny_read_configured(raw: Mapping[str, Any]) -> bool:
    """Whether the config sets ``[sandbox] deny_read`` (else the default list applies)."""
    table = raw.get(_SANDBOX_TABLE, {})
    return isinstance(table, Mapping) and "deny_read" in table


def deny_read_entries(raw: Mapping[str, Any], *, home: Path) -> tuple[str, ...]:
    """``[sandbox] deny_read`` as written (validated), else the default list with agentrt's secrets.

    Raises ``ValueError`` naming ``sandbox.deny_read`` (or the unknown key) for a bad table.
    """
    table = raw.get(_SANDBOX_TABLE, {})
    if not isinstance(table, Mapping):
        raise ValueError(f"{_SANDBOX_TABLE}: expected a table")
    for key in table:
        if key not in SANDBOX_KEYS:
            raise ValueError(f"{_SANDBOX_TABLE}.{key}: unknown key (known: {', '.join(SANDBOX_KEYS)})")
    if "deny_read" not in table:
        return (*DEFAULT_DENY_READ, *(os.fspath(home / name) for name in AGENTRT_SECRETS))
    paths = table["deny_read"]
    if not isinstance(paths, list) or not all(isinstance(p, str) and _absolute_or_home(p) for p in paths):
        raise ValueError(
            f"{_SANDBOX_TABLE}.deny_read: expected a list of absolute paths or paths under ~/, got {paths!r}"
        )
    return tuple(paths)


def _absolute_or_home(path: str) -> bool:
    return os.path.isabs(path) or path == "~" or path.startswith("~/")


def expand_deny_read(entries: tuple[str, ...], user: Path) -> tuple[Path, ...]:
    """Each entry made absolute (``~`` is ``user``), followed by its real path when that differs.

    The real path is listed too so a denial holds through a symlink on the way: bwrap hides the
    real path, and Landlock rules attach to real files anyway.
    """
    out: list[Path] = []
    for entry in entries:
        path = expand_entry(entry, user)
        for candidate in (path, Path(os.path.realpath(path))):
            if candidate not in out:
                out.append(candidate)
    return tuple(out)


def expand_entry(entry: str, user: Path) -> Path:
    """One ``deny_read`` entry as an absolute path, ``~`` being ``user`` (not resolved)."""
    text = os.fspath(user) + entry[1:] if entry.startswith("~") else entry
    return Path(os.path.abspath(text))


def _workspace_write_table(table: Any) -> tuple[tuple[Path, ...], bool]:
    if not isinstance(table, Mapping):
        raise ValueError(f"{_TABLE}: expected a table")
    for key in table:
        if key not in WORKSPACE_WRITE_KEYS:
            known = ", ".join(WORKSPACE_WRITE_KEYS)
            raise ValueError(f"{_TABLE}.{key}: unknown key (known: {known})")
    roots = table.get("writable_roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) and os.path.isabs(r) for r in roots):
        raise ValueError(f"{_TABLE}.writable_roots: expected a list of absolute paths")
    network = table.get("network_access", False)
    if not isinstance(network, bool):
        raise ValueError(f"{_TABLE}.network_access: expected true or false")
    return tuple(Path(os.path.abspath(r)) for r in roots), network


def protected_paths(policy: SandboxPolicy, home: Path) -> tuple[Path, ...]:
    """Each writable root's existing ``.git`` (and its ``gitdir:`` target), and ``home``, resolved.

    Only paths inside a writable root are listed; the rest are read-only anyway.
    """
    roots = [Path(os.path.realpath(r)) for r in (policy.cwd, *policy.writable_roots)]
    return protected_in(roots, Path(os.path.realpath(home)))


def protected_in(roots: list[Path], home: Path) -> tuple[Path, ...]:
    """``protected_paths`` for writable ``roots`` and agentrt's ``home``, all already resolved."""
    found: list[Path] = []
    for root in roots:
        git = root / ".git"
        if git.is_dir():
            found.append(git)
        elif git.is_file():
            found.append(git)
            target = _gitdir_target(git)
            if target is not None:
                found.append(target)
    found.append(home)
    out: list[Path] = []
    for path in found:
        if path not in out and any(_within(path, root) for root in roots):
            out.append(path)
    return tuple(out)


def _gitdir_target(git_file: Path) -> Path | None:
    try:
        first = git_file.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return None
    if not first.startswith("gitdir:"):
        return None
    target = Path(first[len("gitdir:") :].strip())
    return Path(os.path.realpath(git_file.parent / target))


def _within(path: Path, root: Path) -> bool:
    """``path == root or root in path.parents`` for absolute, normal paths, compared as strings
    (~10x cheaper: every task's sandbox scope asks it)."""
    inner, outer = str(path), str(root)
    return inner == outer or inner.startswith(outer if outer.endswith("/") else outer + "/")


def within_any(path: Path, roots: tuple[Path, ...]) -> bool:
    """Whether ``path`` is one of ``roots`` or lies beneath one (lexically; resolve first)."""
    return any(_within(path, root) for root in roots)


def prepare_protected(policy: SandboxPolicy) -> None:
    """Create each missing protected path as an empty 0700 directory, so it exists to be made read-only.

    Raises ``OSError`` when a protected path cannot be created where it was meant to be (a symlink
    in its way pointing elsewhere).
    """
    for path in policy.protected:
        if os.path.lexists(path):
            continue
        os.makedirs(path, mode=0o700, exist_ok=True)
        if os.path.realpath(path) != os.fspath(path):
            raise OSError(f"protected path {path} resolves elsewhere after creating it")


@contextmanager
def private_tmpdir(
    policy: SandboxPolicy, *, parent: Path | None = None, sweep: bool = True, owner: str | None = None
) -> Iterator[SandboxPolicy]:
    """Yield ``policy`` with a fresh private ``tmpdir`` (``workspace-write`` only); remove it after.

    A run killed by SIGKILL or SIGTERM never reaches the removal, so the directory is named after its
    owner (``agentrt-tmp-<owner_tag>-XXXXXXXX``) and each new one first removes the directories in
    ``parent`` whose owner is gone (``hygiene.stale_entries``: never a live run's, nor another
    user's, nor a name it cannot attribute). ``sweep=False`` skips that, for a caller that made many
    (``scoped.SandboxScopes``) and swept once; ``owner`` is this process's ``owner_tag`` when the
    caller already has it.
    """
    if policy.mode != "workspace-write":
        yield policy
        return
    parent = Path(tempfile.gettempdir()) if parent is None else parent
    path = owned_dir(parent, _TMP_PREFIX, sweep=sweep, owner=owner)
    try:
        yield replace(policy, tmpdir=Path(os.path.realpath(path)))
    finally:
        try:
            os.rmdir(path)  # most commands leave their temp dir empty
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
