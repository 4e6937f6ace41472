"""Reading a git repository's whereabouts from its files: no ``git`` process is started.

``git_root`` finds the repository that holds a directory; ``git_info`` reads its branch and commit
(loose refs, ``packed-refs``, worktrees and submodules whose ``.git`` is a ``gitdir:`` file).
"""

from __future__ import annotations

from pathlib import Path


def git_root(cwd: Path) -> Path | None:
    """The nearest directory at or above ``cwd`` that holds ``.git`` (a directory or a file)."""
    start = Path(cwd).absolute()
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def git_info(cwd: Path) -> dict[str, str] | None:
    """``{commit_hash, branch}`` (what is known) for the repository holding ``cwd``, read from ``.git``."""
    root = git_root(cwd)
    if root is None:
        return None
    gitdir = _gitdir(root / ".git")
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    info: dict[str, str] = {}
    if head.startswith("ref:"):
        ref = head[4:].strip()
        if ref.startswith("refs/heads/"):
            info["branch"] = ref[len("refs/heads/") :]
        commit = _resolve_ref(gitdir, ref)
    else:
        commit = head
    if commit:
        info["commit_hash"] = commit
    return info or None


def _gitdir(dot_git: Path) -> Path:
    """The git directory: ``.git`` itself, or where a ``gitdir:`` file (worktree, submodule) points."""
    if dot_git.is_file():
        try:
            text = dot_git.read_text(encoding="utf-8").strip()
        except OSError:
            return dot_git
        if text.startswith("gitdir:"):
            return (dot_git.parent / text[len("gitdir:") :].strip()).resolve()
    return dot_git


def _resolve_ref(gitdir: Path, ref: str) -> str | None:
    """The commit a ref names: its loose file, else ``packed-refs`` (in the common dir for worktrees)."""
    dirs = [gitdir]
    try:
        common = (gitdir / "commondir").read_text(encoding="utf-8").strip()
        dirs.append((gitdir / common).resolve())
    except OSError:
        pass
    for base in dirs:
        try:
            return (base / ref).read_text(encoding="utf-8").strip() or None
        except OSError:
            pass
        try:
            packed = (base / "packed-refs").read_text(encoding="utf-8")
        except OSError:
            continue
        for line in packed.splitlines():
            sha, _, name = line.partition(" ")
            if name.strip() == ref and not line.startswith(("#", "^")):
                return sha
    return None
