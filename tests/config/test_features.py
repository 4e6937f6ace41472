"""Feature flags: the registry, and resolution in order — defaults, config.toml's ``[features]``,
the profile's, ``-c``, ``--enable``/``--disable``, then dependencies — with its warnings and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.config import Config, ConfigError, load_config
from agentrt.config.features import ALIASES, FEATURES, SPECS, STAGES, Features, resolve_features

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
    assert own == {"cost_tracking": ("stable", True), "memory": ("under development", False)}
    assert SPECS["multi_agent"].stage == "under development" and not SPECS["multi_agent"].default
    assert SPECS["multi_agent"].codex_default is True  # Codex 0.169 ships it on; agentrt has not built it
    assert (SPECS["undo"].stage, SPECS["undo"].default, SPECS["undo"].origin) == ("stable", False, "codex")
    assert ALIASES["smart_approvals"] == "guardian_approval"
    assert SPECS["guardian_approval"].origin == "codex"


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
        "[features]\nundo = true\ncost_tracking = false\nshell_tool = false\njs_repl = true\n"
        "[profiles.p.features]\ncost_tracking = true\nshell_tool = true\njs_repl = false\n"
    )
    config = load(tmp_path, text)
    states = {key: config.features.enabled(key) for key in ("undo", "cost_tracking", "shell_tool", "js_repl")}
    assert states == {"undo": True, "cost_tracking": True, "shell_tool": True, "js_repl": False}
    # -c beats the profile; --enable/--disable beat -c.
    config = load(tmp_path, overrides=["features.undo=false", "features.js_repl=true"])
    assert not config.features.enabled("undo") and config.features.enabled("js_repl")
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
    config = load(tmp_path, "[features]\nmulti_agent = false\n", enable=["enable_fanout"])
    assert config.features.enabled("enable_fanout") and config.features.enabled("multi_agent")
    assert config.warnings() == (
        "agentrt: warning: feature 'enable_fanout' requires 'multi_agent', so 'multi_agent' was switched on",
        UNSTABLE.format("enable_fanout"),
    )


# --- legacy, deprecated, removed -----------------------------------------------------------------------


def test_a_legacy_alias_sets_its_key_and_names_it(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\nsmart_approvals = true\n")
    assert config.features.enabled("guardian_approval")
    assert config.warnings() == (
        "agentrt: warning: feature 'smart_approvals' is a legacy name; use 'guardian_approval' instead",
    )
    config = load(tmp_path / "other", enable=["collab"])  # on the command line too
    assert config.features.enabled("multi_agent")
    assert config.warnings() == (
        "agentrt: warning: feature 'collab' is a legacy name; use 'multi_agent' instead",
        UNSTABLE.format("multi_agent"),
    )


def test_a_removed_key_parses_and_does_nothing(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\nsqlite = false\nsearch_tool = true\n", enable=["steer"])
    assert config.features.enabled("sqlite") and not config.features.enabled("search_tool")
    assert config.features == Features()
    assert config.warnings() == ()


def test_a_deprecated_key_works_with_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, "[features]\nweb_search_cached = true\n")
    assert config.features.enabled("web_search_cached")
    assert config.warnings() == (
        "agentrt: warning: feature 'web_search_cached' is deprecated and will go away",
    )


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
    config = load(tmp_path, "[features]\nmemory = true\n", enable=["code_mode"])
    assert config.warnings() == (UNSTABLE.format("code_mode, memory"),)
    config = load(tmp_path, "suppress_unstable_features_warning = true\n[features]\nmemory = true\n")
    assert config.features.enabled("memory") and config.warnings() == ()
    # Switched on, then off again: nothing to warn about.
    assert load(tmp_path, "[features]\nmemory = true\n", disable=["memory"]).warnings() == ()


def test_resolution_is_a_pure_function() -> None:
    layers = [("a", {"undo": True}), ("b", {"undo": False, "apps": True})]
    first, unknown = resolve_features(layers, enable=["js_repl"])
    again, _ = resolve_features(layers, enable=["js_repl"])
    assert first == again and unknown == ()
    assert [
        key for key, on in ((spec.key, on) for spec, on in first) if on and key in ("undo", "apps", "js_repl")
    ] == [
        "apps",
        "js_repl",
    ]
    assert [spec.key for spec, _ in first] == sorted(SPECS)
