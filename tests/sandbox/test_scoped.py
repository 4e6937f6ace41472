"""``SandboxScopes``: many task scopes as ``scoped_sandbox`` makes each, with what they share worked
out once and the leftovers of dead runtimes cleared once (at the first scope, not at every one)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from sandbox_support import skip_unless_available

from agentrt.sandbox.hygiene import owner_tag
from agentrt.sandbox.scoped import SandboxScopes, scoped_sandbox

ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root", "API_KEY": "secret", "LANG": "C.UTF-8"}
TMP_VARS = ("TMPDIR", "TMP", "TEMP")


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir private TMPDIRs are made in (and swept), for this test only."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _dead_owner_tag() -> str:
    child = subprocess.Popen(["sleep", "1"])
    tag = owner_tag(child.pid)
    child.kill()
    child.wait()
    assert tag is not None
    return tag


def test_each_scope_is_the_one_scoped_sandbox_makes_for_its_root(tmp_path: Path, tmp_root: Path) -> None:
    skip_unless_available("landlock")
    home = tmp_path / "home"
    roots = [tmp_path / name for name in ("a", "b", "c")]
    for root in roots:
        root.mkdir()
    (roots[1] / ".git").mkdir()
    scopes = SandboxScopes("landlock", home=home, env=ENV)
    seen_tmp, seen_cgroups = set(), set()
    for root in roots:
        with (
            scopes.scope(root) as (confinement, policy),
            scoped_sandbox(root, "landlock", home=home, env=ENV) as (alone, alone_policy),
        ):
            assert policy.tmpdir is not None and policy.tmpdir.is_dir()
            assert policy.tmpdir.parent == tmp_root.resolve()
            assert {**policy.__dict__, "tmpdir": None} == {**alone_policy.__dict__, "tmpdir": None}
            env = dict(confinement.env)
            assert {env.pop(k) for k in TMP_VARS} == {str(policy.tmpdir)}
            assert env == {k: v for k, v in alone.env.items() if k not in TMP_VARS}
            assert "API_KEY" not in env
            assert ((root / ".git").resolve() in policy.protected) == (root == roots[1])
            cgroup = _cgroup_of(confinement, root)
            seen_tmp.add(policy.tmpdir)
            seen_cgroups.add(cgroup)
        assert not policy.tmpdir.exists(), "the scope's TMPDIR is removed when it ends"
        if cgroup is not None:
            assert Path(cgroup).read_text() == "", "the scope's pids cgroup is left empty"
    assert len(seen_tmp) == 3
    assert len(seen_cgroups) == 1, "scopes one after another share one pids cgroup, emptied between them"


def _cgroup_of(confinement: object, root: Path) -> Path | None:
    options = confinement.sandbox.wrap(["true"], root)  # type: ignore[attr-defined]
    return next((Path(options[i + 1]) for i, arg in enumerate(options) if arg == "--cgroup"), None)


def test_scopes_at_once_have_their_own_cgroups_and_a_cgroup_left_busy_is_not_handed_on(
    tmp_path: Path, tmp_root: Path
) -> None:
    skip_unless_available("landlock")
    scopes = SandboxScopes("landlock", home=tmp_path / "home", env=ENV)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with scopes.scope(a) as (first, _), scopes.scope(b) as (second, _):
        procs_a, procs_b = _cgroup_of(first, a), _cgroup_of(second, b)
        if procs_a is None or procs_b is None:
            pytest.skip("no writable pids cgroup hierarchy here")
        assert procs_a != procs_b, "scopes open at once never share a pids cgroup"
        straggler = subprocess.Popen(["sleep", "60"])
        procs_a.write_text(str(straggler.pid))
    assert straggler.wait(timeout=10) == -9, "what is left in a scope's cgroup is killed when it ends"
    assert not procs_a.parent.exists(), "a cgroup that held a process is removed, not handed on"
    assert procs_b.read_text() == ""
    with scopes.scope(a) as (again, _):
        assert _cgroup_of(again, a) == procs_b, "the empty one serves the next scope"


def test_the_first_scope_clears_a_dead_runtimes_temp_dirs_and_later_ones_do_not_look(
    tmp_path: Path, tmp_root: Path
) -> None:
    skip_unless_available("landlock")
    tag = _dead_owner_tag()
    before = tmp_root / f"agentrt-tmp-{tag}-before00"
    before.mkdir()
    scopes = SandboxScopes("landlock", home=tmp_path / "home", env=ENV)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with scopes.scope(tmp_path / "a"):
        pass
    assert not before.exists(), "a dead runtime's temp dir is cleared by the first scope"
    after = tmp_root / f"agentrt-tmp-{tag}-after000"
    after.mkdir()
    with scopes.scope(tmp_path / "b"):
        pass
    assert after.exists(), "later scopes do not list the temp dir again (a run clears once)"
