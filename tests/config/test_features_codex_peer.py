"""The registry's Codex part against the real Codex CLI: ``codex features list`` of the installed peer
lists exactly agentrt's codex-origin keys, each with the stage and default the spec records as Codex's;
the aliases agentrt accepts are the ones the binary accepts. Skipped, saying why, where the peer is absent.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agentrt.config.features import ALIASES, FEATURES, SPECS

pytestmark = pytest.mark.slow


def features_list(codex: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``codex [ARGS] features list`` over an empty ``CODEX_HOME``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CODEX_HOME": str(home)}
    return subprocess.run(
        [str(codex), *args, "features", "list"], env=env, capture_output=True, text=True, timeout=60
    )


def parse(stdout: str) -> dict[str, tuple[str, bool]]:
    """``key  stage  true|false`` lines (a stage may be two words) as ``{key: (stage, default)}``."""
    table = {}
    for line in stdout.splitlines():
        key, *words, on = line.split()
        assert on in ("true", "false"), line
        table[key] = (" ".join(words), on == "true")
    return table


@pytest.fixture(scope="module")
def codex_features(codex: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bool]]:
    done = features_list(codex, tmp_path_factory.mktemp("codex-home"))
    assert done.returncode == 0, done.stderr
    return parse(done.stdout)


def test_the_codex_keys_are_codexs(codex_features: dict[str, tuple[str, bool]]) -> None:
    ours = {spec.key for spec in FEATURES if spec.origin == "codex"}
    assert sorted(ours - codex_features.keys()) == []  # keys Codex does not list
    assert sorted(codex_features.keys() - ours) == []  # Codex keys agentrt does not know
    assert not {spec.key for spec in FEATURES if spec.origin == "agentrt"} & codex_features.keys()


def test_each_recorded_stage_and_default_is_codexs(codex_features: dict[str, tuple[str, bool]]) -> None:
    differ = {
        key: ((SPECS[key].upstream_stage, SPECS[key].upstream_default), codex)
        for key, codex in codex_features.items()
        if key in SPECS and (SPECS[key].upstream_stage, SPECS[key].upstream_default) != codex
    }
    assert differ == {}


def test_the_aliases_are_the_ones_codex_accepts(codex: Path, tmp_path: Path) -> None:
    for alias in set(ALIASES) - {"smart_approvals"}:  # kept by agentrt for older Codex configs
        done = features_list(codex, tmp_path / alias, "--enable", alias)
        assert done.returncode == 0, f"Codex refuses alias {alias}: {done.stderr}"
    # A Codex key whose default is on, switched off through its alias.
    done = features_list(codex, tmp_path / "connectors-off", "--disable", "connectors")
    assert parse(done.stdout)["apps"] == ("stable", False)
    for gone in ("smart_approvals", "include_apply_patch_tool", "voice_transcription", "apps_mcp_gateway"):
        done = features_list(codex, tmp_path / gone, "--enable", gone)
        assert done.returncode != 0 and "Unknown feature flag" in done.stderr
        assert gone not in SPECS and (gone not in ALIASES or gone == "smart_approvals")


def test_the_requirements_are_codexs(codex: Path, tmp_path: Path) -> None:
    done = features_list(codex, tmp_path, "--disable", "code_mode", "--enable", "code_mode_only")
    assert done.returncode == 0, done.stderr
    assert parse(done.stdout)["code_mode"][1] is True
    assert SPECS["code_mode_only"].requires == ("code_mode",)
