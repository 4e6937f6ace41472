"""Feature flags: one registry of specs, and their resolution into a frozen ``Features`` set.

Each flag has a key, a lifecycle stage, a default, the flags it requires and an origin: ``codex``
(a key Codex CLI 0.169 knows; its stage and default are Codex's unless agentrt has not built the
feature yet) or ``agentrt`` (an agentrt extension no upstream build has).

Resolution, later layers winning: the defaults, ``[features]`` in ``config.toml``, the selected
profile's ``features`` table, ``-c features.KEY=BOOL``, then ``--enable KEY`` / ``--disable KEY``
(in the order given). Then dependencies: **a flag that is on switches on the flags it requires**
(as Codex does for ``enable_fanout`` and ``code_mode_only``); when a requirement had been switched
off explicitly, that is said in a warning.

- A legacy alias sets the key that replaced it, with a warning naming that key.
- A removed key is accepted and does nothing (old configs keep loading); it keeps its default.
- A deprecated key works, with a warning.
- An unknown key in config is a warning (``UnknownKey``, so ``--strict-config`` refuses it); on
  the command line it is an error (``ConfigError``).
- Switching on an ``under development`` flag gives one warning naming all of them, unless
  ``suppress_unstable_features_warning = true``.

Only the standard library's cheapest modules are imported; asking a flag is one dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from agentrt.config.errors import ConfigError, located

Stage = Literal["under development", "experimental", "stable", "deprecated", "removed"]
Origin = Literal["codex", "agentrt"]

UNDER_DEVELOPMENT: Stage = "under development"
EXPERIMENTAL: Stage = "experimental"
STABLE: Stage = "stable"
DEPRECATED: Stage = "deprecated"
REMOVED: Stage = "removed"
STAGES: tuple[Stage, ...] = (UNDER_DEVELOPMENT, EXPERIMENTAL, STABLE, DEPRECATED, REMOVED)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One flag: its key, stage, default, the keys it requires, where it comes from, its old names."""

    key: str
    stage: Stage
    default: bool = False
    requires: tuple[str, ...] = ()
    origin: Origin = "codex"
    aliases: tuple[str, ...] = ()
    """Legacy keys that set this one (with a warning naming this key)."""
    codex_default: bool | None = None
    """Codex 0.169's default where agentrt's differs (a Codex feature agentrt has not built yet)."""


def _codex(
    key: str,
    stage: Stage,
    default: bool = False,
    *,
    requires: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    codex_default: bool | None = None,
) -> FeatureSpec:
    return FeatureSpec(key, stage, default, requires, "codex", aliases, codex_default)


def _agentrt(key: str, stage: Stage, default: bool = False, *, aliases: tuple[str, ...] = ()) -> FeatureSpec:
    return FeatureSpec(key, stage, default, (), "agentrt", aliases)


# Codex CLI 0.169's keys (stages and defaults as on Linux), then agentrt's own.
FEATURES: tuple[FeatureSpec, ...] = (
    _codex("undo", STABLE),
    _codex("shell_tool", STABLE, True),
    _codex("unified_exec", STABLE, True, aliases=("experimental_use_unified_exec_tool",)),
    _codex("shell_snapshot", STABLE, True),
    _codex("enable_request_compression", STABLE, True),
    _codex("skill_mcp_dependency_install", STABLE, True),
    _codex("personality", STABLE, True),
    _codex("fast_mode", STABLE, True),
    _codex("use_legacy_landlock", STABLE),
    _codex("js_repl", EXPERIMENTAL),
    _codex("apps", EXPERIMENTAL, aliases=("connectors",)),
    _codex("guardian_approval", EXPERIMENTAL, aliases=("smart_approvals",)),
    _codex("tui_app_server", EXPERIMENTAL),
    _codex("prevent_idle_sleep", EXPERIMENTAL),
    # Codex 0.169 has multi_agent stable and on; agentrt has not built it yet.
    _codex("multi_agent", UNDER_DEVELOPMENT, aliases=("collab",), codex_default=True),
    _codex("enable_fanout", UNDER_DEVELOPMENT, requires=("multi_agent",)),
    _codex("shell_zsh_fork", UNDER_DEVELOPMENT),
    _codex("code_mode", UNDER_DEVELOPMENT),
    _codex("code_mode_only", UNDER_DEVELOPMENT, requires=("code_mode",)),
    _codex("js_repl_tools_only", UNDER_DEVELOPMENT, requires=("js_repl",)),
    _codex("codex_git_commit", UNDER_DEVELOPMENT),
    _codex("runtime_metrics", UNDER_DEVELOPMENT),
    _codex("memories", UNDER_DEVELOPMENT, aliases=("memory_tool",)),
    _codex("child_agents_md", UNDER_DEVELOPMENT),
    _codex("image_detail_original", UNDER_DEVELOPMENT),
    _codex(
        "apply_patch_freeform",
        UNDER_DEVELOPMENT,
        aliases=("experimental_use_freeform_apply_patch", "include_apply_patch_tool"),
    ),
    _codex("exec_permission_approvals", UNDER_DEVELOPMENT),
    _codex("codex_hooks", UNDER_DEVELOPMENT),
    _codex("request_permissions_tool", UNDER_DEVELOPMENT),
    _codex("tool_suggest", UNDER_DEVELOPMENT),
    _codex("plugins", UNDER_DEVELOPMENT),
    _codex("image_generation", UNDER_DEVELOPMENT),
    _codex("apps_mcp_gateway", UNDER_DEVELOPMENT),
    _codex("skill_env_var_dependency_prompt", UNDER_DEVELOPMENT),
    _codex("default_mode_request_user_input", UNDER_DEVELOPMENT),
    _codex("tool_call_mcp_elicitation", UNDER_DEVELOPMENT),
    _codex("artifact", UNDER_DEVELOPMENT),
    _codex("voice_transcription", UNDER_DEVELOPMENT),
    _codex("realtime_conversation", UNDER_DEVELOPMENT),
    _codex("responses_websockets", UNDER_DEVELOPMENT),
    _codex("responses_websockets_v2", UNDER_DEVELOPMENT),
    _codex("powershell_utf8", UNDER_DEVELOPMENT),  # stable and on only on Windows
    _codex("web_search_request", DEPRECATED, aliases=("web_search",)),
    _codex("web_search_cached", DEPRECATED),
    _codex("search_tool", REMOVED),
    _codex("sqlite", REMOVED, True),
    _codex("use_linux_sandbox_bwrap", REMOVED),
    _codex("request_rule", REMOVED),
    _codex("experimental_windows_sandbox", REMOVED, aliases=("enable_experimental_windows_sandbox",)),
    _codex("elevated_windows_sandbox", REMOVED),
    _codex("remote_models", REMOVED),
    _codex("steer", REMOVED, True),
    _codex("collaboration_modes", REMOVED, True),
    _agentrt("cost_tracking", STABLE, True),
    _agentrt("memory", UNDER_DEVELOPMENT),
)

SPECS: Mapping[str, FeatureSpec] = MappingProxyType({spec.key: spec for spec in FEATURES})
ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: spec.key for spec in FEATURES for alias in spec.aliases}
)
DEFAULTS: Mapping[str, bool] = MappingProxyType({spec.key: spec.default for spec in FEATURES})

ENABLE_FLAG = "--enable"
DISABLE_FLAG = "--disable"


@dataclass(frozen=True, slots=True)
class Features:
    """The resolved flags of one run. Call sites ask ``enabled(key)``, never the config."""

    states: Mapping[str, bool] = field(default_factory=lambda: DEFAULTS)
    warnings: tuple[str, ...] = ()
    """Lines for ``Config.warnings`` (legacy aliases, deprecated keys, dependencies, unstable flags)."""

    def enabled(self, key: str) -> bool:
        """Whether ``key`` is on; ``KeyError`` for a key the registry does not hold (a bug at the call site)."""
        return self.states[key]

    def __iter__(self) -> Iterator[tuple[FeatureSpec, bool]]:
        """Every flag with its state, sorted by key."""
        for key in sorted(self.states):
            yield SPECS[key], self.states[key]


@dataclass(frozen=True, slots=True)
class UnknownFeature:
    """A key in a config layer's features table that no flag or alias has, and the closest key."""

    source: str
    key: str
    hint: str | None


def canonical(key: str) -> str | None:
    """The registry key ``key`` names (itself, or the key its legacy alias stands for); ``None`` if unknown."""
    if key in SPECS:
        return key
    return ALIASES.get(key)


def closest(key: str) -> str | None:
    """The known key (or alias) nearest to a misspelt one."""
    import difflib

    near = difflib.get_close_matches(key, [*SPECS, *ALIASES], n=1, cutoff=0.7)
    return near[0] if near else None


def check_features_table(value: object, *, source: str, key: str) -> dict[str, bool]:
    """A ``features`` table as config gives it: a table of booleans (keys are judged later)."""
    if not isinstance(value, dict):
        raise located(source, key, "expected a table of booleans")
    for name, flag in value.items():
        if not isinstance(flag, bool):
            raise located(source, f"{key}.{name}", "expected a boolean (true or false)")
    return dict(value)


def resolve_features(
    layers: Iterable[tuple[str, Mapping[str, bool]]],
    *,
    enable: Sequence[str] = (),
    disable: Sequence[str] = (),
    suppress_unstable_warning: bool = False,
) -> tuple[Features, tuple[UnknownFeature, ...]]:
    """Resolve ``layers`` (``(source, {key: bool})``, lowest first), then the command line's
    ``enable``/``disable``, then dependencies.

    Returns the flags and the unknown config keys (for the caller's unknown-key warning); raises
    ``ConfigError`` for an unknown key on the command line.
    """
    states = dict(DEFAULTS)
    unknown: list[UnknownFeature] = []
    warnings: list[str] = []
    explicit: dict[str, bool] = {}
    for source, table in layers:
        for name, on in table.items():
            key = canonical(name)
            if key is None:
                unknown.append(UnknownFeature(source, f"features.{name}", closest(name)))
                continue
            _set(states, explicit, warnings, name, key, on)
    toggles = [(ENABLE_FLAG, name, True) for name in enable] + [
        (DISABLE_FLAG, name, False) for name in disable
    ]
    for flag, name, on in toggles:
        key = canonical(name)
        if key is None:
            near = closest(name)
            hint = f" (did you mean '{near}'?)" if near else ""
            raise ConfigError(f"{flag} {name}: unknown feature{hint}; `agentrt features list` shows them")
        _set(states, explicit, warnings, name, key, on)
    _apply_dependencies(states, explicit, warnings)
    unstable = [
        key for key, on in explicit.items() if on and states[key] and SPECS[key].stage == UNDER_DEVELOPMENT
    ]
    if unstable and not suppress_unstable_warning:
        warnings.append(unstable_message(sorted(unstable)))
    return Features(MappingProxyType(states), tuple(dict.fromkeys(warnings))), tuple(unknown)


def unstable_message(keys: Iterable[str]) -> str:
    """The one warning for switched-on ``under development`` flags."""
    return (
        "under-development features enabled: "
        + ", ".join(keys)
        + "; they are incomplete and may misbehave (suppress_unstable_features_warning = true hides this)"
    )


def _set(
    states: dict[str, bool], explicit: dict[str, bool], warnings: list[str], name: str, key: str, on: bool
) -> None:
    spec = SPECS[key]
    if name != key:
        warnings.append(f"feature '{name}' is a legacy name; use '{key}' instead")
    if spec.stage == REMOVED:
        return  # accepted so old configs load; it does nothing
    if spec.stage == DEPRECATED:
        warnings.append(f"feature '{key}' is deprecated and will go away")
    states[key] = on
    explicit[key] = on


def _apply_dependencies(states: dict[str, bool], explicit: dict[str, bool], warnings: list[str]) -> None:
    """Switch on what every enabled flag requires (transitively), saying so where the user had said off."""
    pending = [key for key, on in states.items() if on]
    while pending:
        key = pending.pop()
        for needed in SPECS[key].requires:
            if states[needed]:
                continue
            states[needed] = True
            pending.append(needed)
            if explicit.get(needed) is False:
                warnings.append(f"feature '{key}' requires '{needed}', so '{needed}' was switched on")
