"""Feature flags: the registry, and resolution in order — defaults, config.toml's ``[features]``,
the profile's, ``-c``, ``--enable``/``--disable``, then dependencies — with its warnings and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.config import Config, ConfigError, load_config
from agentrt.config.features import (
    ALIASES,
    DEFAULTS,
    FEATURES,
    PARITY_DEFAULTS,
    SPECS,
    STAGES,
    Features,
    canonical,
    resolve_features,
)

UNSTABLE = (
    "agentrt: warning: under-development features enabled: {}; they are incomplete and may misbehave "
    "(suppress_unstable_features_warning = true hides this)"
)


def load(home: Path, text: str | None = None, **kw: object) -> Config:
    home.mkdir(parents=True, exist_ok=True)
    if text is not None:
        (home / "config.toml").write_text(text, encoding="utf-8")
    return load_config(home, env={}, **kw)  # type: ignore[arg-type]


# --- the registry ----------------------------------------------------------------------------------


def test_registry_is_consistent() -> None:
    assert len(SPECS) == len(FEATURES)  # no key twice
    for spec in FEATURES:
        assert spec.stage in STAGES and spec.origin in ("codex", "agentrt")
        assert all(needed in SPECS for needed in spec.requires)
        assert not set(spec.aliases) & set(SPECS)  # an alias is never a key itself
    assert len(ALIASES) == sum(len(spec.aliases) for spec in FEATURES)  # no alias for two keys


def test_agentrt_keys_and_codex_keys_are_marked() -> None:
    own = {spec.key: (spec.stage, spec.default) for spec in FEATURES if spec.origin == "agentrt"}
    assert own == {"cost_tracking": ("stable", True)}
    codex = [spec for spec in FEATURES if spec.origin == "codex"]
    assert len(codex) == 215 and [spec.key for spec in codex] == sorted(spec.key for spec in codex)
    assert all(spec.upstream_stage is None and spec.upstream_default is None for spec in FEATURES[215:])


def test_where_agentrt_differs_the_spec_keeps_codexs_stage_and_default() -> None:
    differs = {
        spec.key: (spec.stage, spec.default, spec.upstream_stage, spec.upstream_default)
        for spec in FEATURES
        if spec.codex_stage is not None or spec.codex_default is not None
    }
    assert differs == {
        "undo": ("experimental", False, "removed", False),  # agentrt builds its own; Codex removed it
        "multi_agent": ("experimental", False, "deprecated", True),  # agentrt's own sub-agents
        "memories": ("experimental", False, "stable", False),  # agentrt's own memory store
    }
    # Each override records only what differs; the upstream_* properties read either way.
    assert SPECS["undo"].codex_default is None and SPECS["memories"].codex_default is None
    for key in ("shell_tool", "unified_exec", "unified_exec_tty", "view_image", "goals"):
        spec = SPECS[key]
        assert (spec.stage, spec.default) == (spec.upstream_stage, spec.upstream_default) == ("stable", True)
    assert SPECS["multi_agent_v2"].stage == "stable" and not SPECS["multi_agent_v2"].default


def test_codex_0169s_aliases_and_no_others() -> None:
    assert dict(ALIASES) == {
        "collab": "multi_agent",
        "connectors": "apps",
        "memory_tool": "memories",
        "web_search": "web_search_request",
        "request_permissions": "exec_permission_approvals",
        "enable_experimental_windows_sandbox": "experimental_windows_sandbox",
        "experimental_use_unified_exec_tool": "unified_exec",
        "codex_hooks": "hooks",
        "smart_approvals": "guardian_approval",  # Codex 0.169 refuses it; agentrt keeps it working
    }
    # Keys and aliases older Codex builds had and Codex 0.169 refuses.
    gone = (
        "apps_mcp_gateway",
        "child_agents_md",
        "powershell_utf8",
        "voice_transcription",
    )
    assert not set(gone) & {*SPECS, *ALIASES}
    assert SPECS["code_mode_only"].requires == ("code_mode",)
    assert [spec.key for spec in FEATURES if spec.requires] == ["code_mode_only"]


# --- resolution order -------------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config.features.enabled("cost_tracking") and config.features.enabled("shell_tool")
    assert not config.features.enabled("undo") and not config.features.enabled("multi_agent")
    assert config.features == Features()
    assert config.warnings() == ()
    with pytest.raises(KeyError):
        config.features.enabled("no_such_flag")


def test_each_layer_beats_the_one_below(tmp_path: Path) -> None:
    text = (
        'profile = "p"\n'
        "[features]\nundo = true\ncost_tracking = false\nshell_tool = false\nprevent_idle_sleep = true\n"
        "[profiles.p.features]\ncost_tracking = true\nshell_tool = true\nprevent_idle_sleep = false\n"
    )
    config = load(tmp_path, text)
    states = {
        key: config.features.enabled(key)
        for key in ("undo", "cost_tracking", "shell_tool", "prevent_idle_sleep")
    }
    assert states == {"undo": True, "cost_tracking": True, "shell_tool": True, "prevent_idle_sleep": False}
    # -c beats the profile; --enable/--disable beat -c.
    config = load(tmp_path, overrides=["features.undo=false", "features.prevent_idle_sleep=true"])
    assert not config.features.enabled("undo") and config.features.enabled("prevent_idle_sleep")
    config = load(tmp_path, overrides=["features.undo=false"], enable=["undo"], disable=["cost_tracking"])
    assert config.features.enabled("undo") and not config.features.enabled("cost_tracking")
    # The same key both ways on the command line: off.
    assert not load(tmp_path, enable=["apps"], disable=["apps"]).features.enabled("apps")


def test_a_profile_file_has_features_too(tmp_path: Path) -> None:
    (tmp_path / "fast.config.toml").write_text("[features]\nundo = true\n")
    config = load(tmp_path, "[features]\nundo = false\n", profile="fast")
    assert config.features.enabled("undo")


def test_ignore_user_config_leaves_the_files_features_out(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\nundo = true\n", user_config=False, enable=["apps"])
    assert not config.features.enabled("undo") and config.features.enabled("apps")


def test_a_feature_value_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"features\.undo: expected a boolean"):
        load(tmp_path, '[features]\nundo = "yes"\n')
    with pytest.raises(ConfigError, match="features: expected a table of booleans"):
        load(tmp_path, "features = 1\n")


# --- dependencies -------------------------------------------------------------------------------------


def test_a_dependent_switches_its_requirement_on(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\ncode_mode_only = true\n")
    assert config.features.enabled("code_mode_only") and config.features.enabled("code_mode")
    assert config.warnings() == (UNSTABLE.format("code_mode_only"),)


def test_a_requirement_switched_off_by_the_user_is_switched_on_with_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\ncode_mode = false\n", enable=["code_mode_only"])
    assert config.features.enabled("code_mode_only") and config.features.enabled("code_mode")
    assert config.warnings() == (
        "agentrt: warning: feature 'code_mode_only' requires 'code_mode', so 'code_mode' was switched on",
        UNSTABLE.format("code_mode_only"),
    )
    # Off, the dependent leaves its requirement alone.
    config = load(tmp_path, "[features]\ncode_mode = false\ncode_mode_only = false\n")
    assert not config.features.enabled("code_mode") and config.warnings() == ()


# --- legacy, deprecated, removed -----------------------------------------------------------------------


def test_a_legacy_alias_sets_its_key_and_names_it(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\nconnectors = false\ncodex_hooks = false\n")
    assert not config.features.enabled("apps") and not config.features.enabled("hooks")
    assert config.warnings() == (
        "agentrt: warning: feature 'connectors' is a legacy name; use 'apps' instead",
        "agentrt: warning: feature 'codex_hooks' is a legacy name; use 'hooks' instead",
    )
    config = load(tmp_path / "other", enable=["collab"])  # on the command line too
    assert config.features.enabled("multi_agent")
    assert config.warnings() == (
        "agentrt: warning: feature 'collab' is a legacy name; use 'multi_agent' instead",
    )


def test_a_removed_key_parses_and_does_nothing(tmp_path: Path) -> None:
    text = "[features]\nsqlite = false\nsearch_tool = true\njs_repl = true\n"
    config = load(tmp_path, text, enable=["steer", "enable_fanout", "personality"])
    assert config.features.enabled("sqlite") and not config.features.enabled("search_tool")
    assert not config.features.enabled("enable_fanout") and not config.features.enabled("js_repl")
    assert config.features == Features()
    assert config.warnings() == ()
    # A legacy alias of a removed key: named, and nothing else.
    config = load(tmp_path / "other", enable=["enable_experimental_windows_sandbox"])
    assert config.features == Features(warnings=config.features.warnings)
    assert config.warnings() == (
        "agentrt: warning: feature 'enable_experimental_windows_sandbox' is a legacy name; "
        "use 'experimental_windows_sandbox' instead",
    )


def test_a_deprecated_key_works_with_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\nweb_search_cached = true\n")
    assert config.features.enabled("web_search_cached")
    assert config.warnings() == (
        "agentrt: warning: feature 'web_search_cached' is deprecated and will go away",
    )


def test_keys_codex_0169_dropped_are_unknown(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\nvoice_transcription = true\n")
    where = tmp_path / "config.toml"
    assert config.features == Features()
    assert len(config.warnings()) == 1
    assert f"{where}: unknown key 'features.voice_transcription'" in config.warnings()[0]
    with pytest.raises(ConfigError, match="--enable apps_mcp_gateway: unknown feature"):
        load(tmp_path, enable=["apps_mcp_gateway"])


# --- strict Codex parity ------------------------------------------------------------------------------


def test_parity_starts_from_codex_0169s_defaults() -> None:
    features, unknown = resolve_features([], parity=True)
    assert unknown == () and features.warnings == ()
    assert dict(features.states) == dict(PARITY_DEFAULTS)
    on = {key for key, value in PARITY_DEFAULTS.items() if value}
    assert {"guardian_approval", "unified_exec", "shell_tool", "goals"} <= on
    # agentrt's own, and Codex keys agentrt builds its own way (Codex has multi_agent on): off
    assert not {"undo", "memories", "cost_tracking", "multi_agent"} & on
    assert {key for key, value in PARITY_DEFAULTS.items() if value != DEFAULTS[key]} == {"cost_tracking"}


@pytest.mark.parametrize(
    "layers, enable, where",
    [
        ([], ["cost_tracking"], "--enable cost_tracking"),
        ([("/h/config.toml", {"cost_tracking": True})], [], "/h/config.toml"),
        ([("-c", {"memories": True})], [], "-c"),
        ([], ["collab"], "--enable collab"),
    ],
)
def test_parity_refuses_to_switch_on_an_agentrt_extension(
    layers: list[tuple[str, dict[str, bool]]], enable: list[str], where: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        resolve_features(layers, enable=enable, parity=True)
    assert str(refused.value).startswith(f"{where}: feature '")
    assert "agentrt's own" in str(refused.value) and "parity mode" in str(refused.value)
    features, _ = resolve_features([("x", {"cost_tracking": False})], parity=True)  # off is fine
    assert not features.enabled("cost_tracking")
    asked = enable[0] if enable else next(iter(layers[0][1]))
    assert resolve_features(layers, enable=enable)[0].enabled(canonical(asked) or asked)  # outside parity: on


def test_parity_judges_a_codex_key_by_codexs_stage() -> None:
    # undo: removed in Codex 0.169, so a no-op in parity; agentrt's own experimental flag otherwise.
    features, _ = resolve_features([("config.toml", {"undo": True})], parity=True)
    assert not features.enabled("undo") and features.warnings == ()
    features, _ = resolve_features([("config.toml", {"undo": True})])
    assert features.enabled("undo") and features.warnings == ()
    # multi_agent: deprecated in Codex 0.169 (and kept off in parity), experimental in agentrt.
    features, _ = resolve_features([], disable=["collab"], parity=True)
    assert not features.enabled("multi_agent")
    assert features.warnings == (
        "feature 'collab' is a legacy name; use 'multi_agent' instead",
        "feature 'multi_agent' is deprecated and will go away",
    )
    features, _ = resolve_features([], enable=["multi_agent"])
    assert features.enabled("multi_agent") and features.warnings == ()


# --- unknown keys ----------------------------------------------------------------------------------------


def test_an_unknown_key_in_config_is_a_warning(tmp_path: Path) -> None:
    config = load(
        tmp_path, "[features]\nund = true\n[profiles.p.features]\nbogus_flag = false\n", profile="p"
    )
    where = tmp_path / "config.toml"
    assert config.warnings() == (
        "agentrt: warning: config keys that nothing reads, ignored: "
        f"{where}: unknown key 'features.und' (did you mean 'undo'?); "
        f"{where} [profiles.p]: unknown key 'features.bogus_flag'",
    )
    assert config.features == Features()
    with pytest.raises(ConfigError, match="unknown key 'features.und'"):
        load(tmp_path, strict=True, profile="p")


def test_an_unknown_key_on_the_command_line_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, enable=["und"])
    assert (
        str(info.value)
        == "--enable und: unknown feature (did you mean 'undo'?); `agentrt features list` shows them"
    )
    with pytest.raises(ConfigError, match="^--disable zzz: unknown feature;"):
        load(tmp_path, disable=["zzz"])


# --- the under-development warning ---------------------------------------------------------------------


def test_enabling_under_development_flags_gives_one_warning(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\nagent_message_board = true\n", enable=["code_mode"])
    assert config.warnings() == (UNSTABLE.format("agent_message_board, code_mode"),)
    text = "suppress_unstable_features_warning = true\n[features]\nagent_message_board = true\n"
    config = load(tmp_path, text)
    assert config.features.enabled("agent_message_board") and config.warnings() == ()
    # Switched on, then off again: nothing to warn about.
    text = "[features]\nagent_message_board = true\n"
    assert load(tmp_path, text, disable=["agent_message_board"]).warnings() == ()


def test_resolution_is_a_pure_function() -> None:
    layers = [("a", {"undo": True}), ("b", {"undo": False, "apps": True})]
    first, unknown = resolve_features(layers, enable=["prevent_idle_sleep"])
    again, _ = resolve_features(layers, enable=["prevent_idle_sleep"])
    assert first == again and unknown == ()
    assert [
        key
        for key, on in ((spec.key, on) for spec, on in first)
        if on and key in ("undo", "apps", "prevent_idle_sleep")
    ] == [
        "apps",
        "prevent_idle_sleep",
    ]
    assert [spec.key for spec, _ in first] == sorted(SPECS)
