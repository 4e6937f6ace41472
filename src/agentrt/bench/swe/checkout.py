"""An instance's checkout at its base commit, and the diff the agent's work makes against it.

The checkout is ``git clone --shared --no-checkout`` of the local clone (objects are borrowed, not
copied: fast for large repositories, and the clone is never written to), detached at the base commit,
with every ref, the ``origin`` remote and the reflogs removed, so the history after the base commit is
out of sight (``git log --all`` shows the base commit's ancestry only; an object of a later commit
can still be read by its id through the borrowed object store).

The diff is the harness's, taken after the agent has stopped: ``git add -A`` then ``git diff --cached
BASE`` — every change of a text file the repository does not ignore, new files included, without
renames (plain deletions and additions), with ``a/`` and ``b/`` prefixes whatever the configuration
says. Binary files and files that are not UTF-8 are left out, and named: the prediction format carries
text. The agent's sandbox keeps the checkout's ``.git`` read-only (``sandbox.policy``), so it cannot
plant a hook, a filter or an fsmonitor there for these commands to run; repositories it creates inside
the checkout are not entered (``--ignore-submodules``), and hooks and fsmonitor are off regardless.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentrt.bench.swe.instances import Instance, InstanceError
from agentrt.sandbox.none import NoSandbox
from agentrt.sandbox.process import RunResult, run_command

GIT_TIMEOUT_S = 600.0
HARDENED = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "diff.noprefix=false")
"""Options of every harness git command: no hooks, no fsmonitor, the usual diff prefixes."""
DIFF_OPTIONS = ("--cached", "--no-renames", "--ignore-submodules=all")
DIFF_FILE = "agentrt-model.patch"
"""The diff as git writes it, in the checkout's ``.git``."""


@dataclass(frozen=True)
class Diff:
    text: str
    """The patch (``""``: no change)."""
    files: tuple[str, ...]
    """The files it changes."""
    left_out: tuple[str, ...] = ()
    """Changed files not in it (binary, or not UTF-8)."""


async def git(args: Sequence[str], cwd: Path, *, env: Mapping[str, str] | None = None) -> RunResult:
    """``git`` (hardened) run by the harness itself, unconfined, in ``cwd``."""
    return await run_command(
        ["git", *HARDENED, *args], cwd=cwd, sandbox=NoSandbox(), env=env, timeout_s=GIT_TIMEOUT_S,
        output_cap=1 << 20,
    )  # fmt: skip


def _failed(done: RunResult) -> str:
    text = (done.stderr or done.stdout).strip().splitlines()
    reason = text[-1] if text else f"exit {done.exit_code}"
    return f"timed out after {GIT_TIMEOUT_S:g}s" if done.timed_out else reason


async def resolve_commit(clone: Path, instance: Instance) -> str:
    """The full id of ``instance.base_commit`` in ``clone``; ``InstanceError`` naming the instance
    when ``clone`` is no git repository (a directory inside another one is not) or lacks the commit."""
    own = {**os.environ, "GIT_CEILING_DIRECTORIES": str(Path(os.path.realpath(clone)).parent)}
    ref = f"{instance.base_commit}^{{commit}}"
    done = await git(["rev-parse", "--verify", "--quiet", ref], clone, env=own)
    if done.ok and done.stdout.strip():
        return done.stdout.strip()
    probe = await git(["rev-parse", "--git-dir"], clone, env=own)
    if not probe.ok:
        raise InstanceError(f"instance {instance.id}: {clone} is not a git repository ({_failed(probe)})")
    raise InstanceError(
        f"instance {instance.id}: commit {instance.base_commit} is not in {clone} "
        "(fetch it there, or clone with full history)"
    )


async def make_checkout(clone: Path, commit: str, dest: Path) -> Path:
    """A fresh checkout of ``clone`` at ``commit`` in ``dest`` (module docstring); ``OSError`` on failure."""
    steps: list[tuple[list[str], Path]] = [
        (["clone", "-q", "--shared", "--no-checkout", "--", str(clone), str(dest)], dest.parent),
        (["checkout", "-q", "--detach", commit], dest),
        (["remote", "remove", "origin"], dest),
    ]
    dest.parent.mkdir(parents=True, exist_ok=True)
    for args, cwd in steps:
        done = await git(args, cwd)
        if not done.ok:
            raise OSError(f"git {args[0]} failed: {_failed(done)}")
    hardened = " ".join(HARDENED)
    drop = (
        f"set -o pipefail; git {hardened} for-each-ref --format='delete %(refname)' "
        f"| git {hardened} update-ref --stdin"
    )
    done = await run_command(["bash", "-c", drop], cwd=dest, sandbox=NoSandbox(), timeout_s=GIT_TIMEOUT_S)
    if not done.ok:
        raise OSError(f"git update-ref failed: {_failed(done)}")
    shutil.rmtree(dest / ".git" / "logs", ignore_errors=True)
    return dest


async def take_diff(repo: Path, commit: str) -> Diff:
    """The agent's work in ``repo`` against ``commit`` (module docstring); ``OSError`` when git cannot."""
    done = await git(["add", "-A"], repo)
    if not done.ok:
        raise OSError(f"git add -A failed: {_failed(done)}")
    stat = await git(["diff", *DIFF_OPTIONS, "--numstat", "-z", commit], repo)
    if not stat.ok:
        raise OSError(f"git diff --numstat failed: {_failed(stat)}")
    changed, binary = _numstat(stat.stdout)
    text_files = [f for f in changed if f not in binary]
    text, undecodable = await _diff_text(repo, commit, text_files)
    files = tuple(f for f in text_files if f not in undecodable)
    return Diff(text, files, tuple(binary) + tuple(undecodable))


def _numstat(output: str) -> tuple[list[str], set[str]]:
    """(every changed path, the binary ones) from ``--numstat -z`` (``added\\tdeleted\\tpath\\0``)."""
    changed: list[str] = []
    binary: set[str] = set()
    for entry in output.split("\0"):
        if not entry:
            continue
        added, deleted, path = entry.split("\t", 2)
        changed.append(path)
        if added == "-" and deleted == "-":
            binary.add(path)
    return changed, binary


async def _diff_text(repo: Path, commit: str, files: list[str]) -> tuple[str, list[str]]:
    """The diff of ``files`` (all at once; one by one only when some are not UTF-8) and those left out."""
    if not files:
        return "", []
    whole = await _diff_bytes(repo, commit, files)
    try:
        return whole.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    parts, left_out = [], []
    for name in files:
        try:
            parts.append((await _diff_bytes(repo, commit, [name])).decode("utf-8"))
        except UnicodeDecodeError:
            left_out.append(name)
    return "".join(parts), left_out


async def _diff_bytes(repo: Path, commit: str, files: list[str]) -> bytes:
    out = repo / ".git" / DIFF_FILE
    args = [
        "diff", *DIFF_OPTIONS, "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/",
        "--dst-prefix=b/", f"--output={out}", commit, "--", *(f":(literal){f}" for f in files),
    ]  # fmt: skip
    done = await git(args, repo)
    try:
        if not done.ok:
            raise OSError(f"git diff failed: {_failed(done)}")
        return out.read_bytes()
    finally:
        out.unlink(missing_ok=True)
