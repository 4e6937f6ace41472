"""Feature flags: one registry of specs, and their resolution into a frozen ``Features`` set.

Each flag has a key, a lifecycle stage, a default, the flags it requires and an origin: ``codex``
(one of the keys Codex CLI 0.169 lists, with the aliases it still accepts) or ``agentrt`` (an agentrt
extension no upstream build has). A Codex key has Codex's stage and default, except for the few
features agentrt has built differently or not yet: their spec records Codex's own in
``codex_stage``/``codex_default`` (``upstream_stage``/``upstream_default`` read either way).

Resolution, later layers winning: the defaults, ``[features]`` in ``config.toml``, the selected
profile's ``features`` table, ``-c features.KEY=BOOL``, then ``--enable KEY`` / ``--disable KEY``
(in the order given). Then dependencies: **a flag that is on switches on the flags it requires**
(as Codex 0.169 does for ``code_mode_only``); when a requirement had been switched off explicitly,
that is said in a warning. Strict Codex-parity mode (``parity=True``) starts from Codex 0.169's
defaults (``PARITY_DEFAULTS``: agentrt's own flags off) and judges each Codex key by Codex's stage.

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
    """Codex 0.169's default where agentrt's differs (a Codex feature agentrt built differently or not yet)."""
    codex_stage: Stage | None = None
    """Codex 0.169's stage where agentrt's differs."""

    @property
    def upstream_stage(self) -> Stage | None:
        """The stage Codex 0.169 gives this key; ``None`` for an agentrt key."""
        if self.origin != "codex":
            return None
        return self.stage if self.codex_stage is None else self.codex_stage

    @property
    def upstream_default(self) -> bool | None:
        """The default Codex 0.169 gives this key; ``None`` for an agentrt key."""
        if self.origin != "codex":
            return None
        return self.default if self.codex_default is None else self.codex_default


def _agentrt(key: str, stage: Stage, default: bool = False) -> FeatureSpec:
    return FeatureSpec(key, stage, default, origin="agentrt")


# Codex CLI 0.169's keys as its ``codex features list`` prints them on Linux: key, stage, default.
# Pasting a newer Codex's list here updates them; tests/config/test_features_codex_peer.py holds this
# table equal to the real binary's list. A string, not a file, so that importing reads nothing.
_CODEX_0169 = """
agent_message_board                      under development  false
agent_message_board_mcp                  under development  false
analytics_plan_history                   experimental       false
api_key_cyber_access_programs            stable             true
api_key_model_discovery                  stable             true
app_server_websocket_compression         under development  false
apply_patch_freeform                     removed            false
apply_patch_preserve_line_endings        removed            false
apply_patch_streaming_events             under development  false
apps                                     stable             true
apps_early_resource_discovery            under development  false
apps_mcp_path_override                   removed            false
artifact                                 under development  false
async_compaction                         under development  false
async_compaction_root_only               under development  false
auth_elicitation                         stable             true
background_paginated_rollout_migration   under development  false
bedrock_setup_wizard                     stable             true
browser_annotation_api                   stable             true
browser_use                              stable             true
browser_use_external                     stable             true
browser_use_full_cdp_access              stable             true
chronicle                                under development  false
cli_daybreak                             stable             true
cli_resume_account_check                 under development  false
code_mode                                under development  false
code_mode_buffered_exec                  removed            false
code_mode_host                           stable             true
code_mode_host_grpc                      stable             true
code_mode_host_output_truncation         stable             true
code_mode_interrupt                      stable             true
code_mode_only                           under development  false
code_mode_only_strict_3p_tools           under development  false
code_mode_prewarm                        under development  false
code_mode_tool_description_first         removed            false
code_mode_tool_search                    under development  false
codex_apps_mcp_2026_07_28                under development  false
codex_git_commit                         removed            false
collaboration_modes                      removed            true
command_sessions_world_state             under development  false
compaction_image_budget                  stable             true
computer_use                             stable             true
concurrent_reasoning_summaries           under development  false
content_item_kinds                       stable             true
context_management                       under development  false
credential_masking                       under development  false
critical_path_timing                     under development  false
current_time_reminder                    under development  false
cwd_relative_turn_diffs                  under development  false
daemon_auto_start                        stable             true
daybreak_program_propagation             under development  false
default_mode_request_user_input          under development  false
defer_mailbox_preemption                 under development  false
deferred_executor                        under development  false
deferred_tool_world_state                stable             true
elevated_windows_sandbox                 removed            false
enable_fanout                            removed            false
enable_mcp_apps                          under development  false
enable_request_compression               stable             true
exec_permission_approvals                under development  false
executed_tool_call_metadata              under development  false
executor_capability_discovery            under development  false
executor_capability_discovery_v2         under development  false
experimental_windows_sandbox             removed            false
external_agent_memory_import             under development  false
external_migration                       removed            false
fast_mode                                stable             true
gateway_setup_wizard                     stable             false
gcp_setup_wizard                         stable             false
goals                                    stable             true
guardian_approval                        stable             true
guardian_conversation_history_tools      under development  false
guardian_denial_reconsideration          under development  false
guardian_enhanced_node_repl_transcripts  under development  false
guardian_ext                             removed            false
guardian_include_additional_context      stable             true
guardian_native_multi_agent_history      under development  false
guardian_node_repl_transcript_images     under development  false
guardian_recorded_items                  under development  false
guardian_reuse_parent_compaction         stable             true
guardian_root_handoff_context            under development  false
guardian_trust_orchestrator_connectors   under development  false
guardianv2                               under development  false
guardianv2.thread_context                removed            false
guardianv2_decisions_comparison          under development  false
guardianv3                               under development  false
hooks                                    stable             true
hosted_search_policy                     under development  false
image_detail_original                    removed            false
image_generation                         stable             true
image_generation_animation               under development  false
image_resize_notice                      under development  false
in_app_browser                           stable             true
in_app_chat                              stable             true
in_app_dictation                         stable             true
in_app_local_automation                  stable             true
in_app_updates                           stable             true
in_app_voice                             stable             true
incremental_exec_tools                   under development  false
incremental_tools                        stable             true
incremental_tools_legacy                 stable             false
incremental_tools_legacy_gcp             stable             true
instant_interrupt                        under development  true
interrupt_on_cancel                      under development  false
item_ids                                 removed            true
js_repl                                  removed            false
js_repl_tools_only                       removed            false
local_thread_store_compression           under development  false
local_thread_store_shared_compression    removed            false
login_shell_package_path                 experimental       false
mcp_2026_07_28                           under development  false
mcp_connection_sharing                   under development  false
mcp_lazy_stdio_startup                   under development  false
mcp_oauth_refresh_coordination           stable             true
mcp_tool_list_changed                    under development  false
memories                                 stable             false
mentions_v2                              stable             true
model_catalog_in_context                 under development  false
multi_agent                              deprecated         true
multi_agent_mode                         removed            false
multi_agent_v2                           stable             false
multi_agent_v2_dynamic_tools             under development  false
multi_env_copy_file                      under development  false
network_proxy                            experimental       false
non_prefixed_mcp_tool_names              under development  false
nonfatal_clock_read_errors               under development  false
omit_app_server_notification_media       under development  false
omit_skill_descriptions                  under development  false
output_token_replay                      under development  false
personality                              removed            false
plugin_discovery_prefetch                removed            false
plugin_hooks                             removed            false
plugin_sharing                           stable             true
plugins                                  stable             true
powershell_shell_version                 under development  false
prediction_preserve_parent_tools         stable             true
prefer_mxc                               under development  false
prevent_idle_sleep                       experimental       false
psp                                      under development  false
realtime_conversation                    removed            true
reasoning_effort_override                stable             true
recommended_plugins                      stable             false
remote_compaction_v2                     removed            false
remote_control                           removed            false
remote_models                            removed            false
remote_plugin                            stable             true
request_permissions_tool                 under development  false
request_rule                             removed            false
resize_all_images                        removed            true
respect_system_proxy                     experimental       false
responses_websockets                     removed            false
responses_websockets_v2                  removed            false
retain_client_developer_messages         under development  false
retain_client_tool_outputs               stable             true
rollout_budget                           under development  false
runtime_agent_instances                  under development  false
runtime_metrics                          under development  false
search_tool                              removed            false
secret_auth_storage                      stable             false
send_async_message                       removed            false
send_message_to_user_async               under development  false
shell_snapshot                           stable             true
shell_snapshot_v2                        under development  false
shell_tool                               stable             true
shell_zsh_fork                           removed            false
simplified_selection_hints               under development  false
skill_catalog_deltas                     under development  false
skill_env_var_dependency_prompt          removed            false
skill_mcp_dependency_install             stable             true
skill_search                             stable             true
skip_host_skill_discovery                under development  false
sleep_tool                               stable             true
sqlite                                   removed            true
stable_environment_tools                 removed            false
standalone_web_search                    under development  false
steer                                    removed            true
step_model_switching                     under development  false
subagent_default_context_limits          under development  false
subagent_thread_environments             under development  false
suppress_model_change_announcements      stable             false
system_proxy_fallback                    stable             true
terminal_resize_reflow                   removed            true
terminal_visualization_instructions      under development  false
token_budget                             under development  false
tool_call_mcp_elicitation                stable             true
tool_search                              removed            false
tool_search_always_defer_mcp_tools       removed            true
tool_suggest                             stable             true
transcript_v2                            removed            false
tui_app_server                           removed            true
tui_extensions_statusline                under development  false
tui_multi_backend                        under development  false
tui_workspace                            under development  false
ultrafast_mode                           stable             true
unavailable_dummy_tools                  removed            false
unbounded_connection_retries             stable             true
undo                                     removed            false
unified_exec                             stable             true
unified_exec_tty                         stable             true
unified_exec_zsh_fork                    removed            false
unified_image_budget                     stable             true
untrusted_as_tool_output                 stable             true
use_agent_identity                       under development  false
use_legacy_landlock                      deprecated         false
use_linux_sandbox_bwrap                  removed            false
use_xaa                                  under development  false
view_image                               stable             true
wake_on_agent_messages                   under development  false
web_search_cached                        deprecated         false
web_search_request                       deprecated         false
windows_sandbox_service                  under development  false
workspace_dependencies                   stable             true
workspace_owner_usage_nudge              removed            false
worktrees                                removed            true
write_stdin_approval                     stable             true
"""

# The legacy aliases Codex 0.169 still accepts (in ``[features]`` and on ``--enable``), by the key
# each sets; the binary refuses the others older Codex builds had (smart_approvals, which agentrt
# keeps below, experimental_use_freeform_apply_patch, include_apply_patch_tool).
_CODEX_ALIASES: Mapping[str, tuple[str, ...]] = {
    "apps": ("connectors",),
    "exec_permission_approvals": ("request_permissions",),
    "experimental_windows_sandbox": ("enable_experimental_windows_sandbox",),
    "hooks": ("codex_hooks",),
    "memories": ("memory_tool",),
    "multi_agent": ("collab",),
    "unified_exec": ("experimental_use_unified_exec_tool",),
    "web_search_request": ("web_search",),
}

# Legacy aliases agentrt keeps though Codex 0.169 refuses them: configs written for the Codex builds
# that had them go on working (in parity mode too: an alias changes no behaviour, only a name).
_KEPT_ALIASES: Mapping[str, tuple[str, ...]] = {"guardian_approval": ("smart_approvals",)}

# What a Codex 0.169 flag switches on with it (Codex's only one: code_mode_only needs code_mode).
_CODEX_REQUIRES: Mapping[str, tuple[str, ...]] = {"code_mode_only": ("code_mode",)}

# Codex keys whose agentrt stage and default differ from Codex's: agentrt's (stage, default); the
# spec keeps Codex's in codex_stage/codex_default. Kept at Codex's: shell_tool (agentrt's shell
# tool), unified_exec (the PTY pair exec_command/write_stdin, being built), view_image and goals
# (not built yet; nothing reads them).
_AGENTRT_DIFFERS: Mapping[str, tuple[Stage, bool]] = {
    # Codex 0.169 removed undo; agentrt is building its own, usable when switched on.
    "undo": (EXPERIMENTAL, False),
    # agentrt's own sub-agents and memory store, under Codex's keys: experimental, off.
    "multi_agent": (EXPERIMENTAL, False),
    "memories": (EXPERIMENTAL, False),
}

# Codex keys whose feature agentrt builds its own way (its tools are not the ones Codex offers under
# the same key): parity mode keeps them off and refuses to switch them on, as it does agentrt's own.
PARITY_OFF: tuple[str, ...] = ("multi_agent", "memories")

_STAGE_NAMES: Mapping[str, Stage] = {stage: stage for stage in STAGES}


def _codex_specs(table: str) -> Iterator[FeatureSpec]:
    """The specs of the Codex keys in ``table`` (lines of key, stage, ``true``/``false``)."""
    for line in table.splitlines():
        if not line:
            continue
        key, *words, on = line.split()
        stage, default = _STAGE_NAMES[" ".join(words)], on == "true"
        own_stage, own_default = _AGENTRT_DIFFERS.get(key, (stage, default))
        yield FeatureSpec(
            key,
            own_stage,
            own_default,
            _CODEX_REQUIRES.get(key, ()),
            "codex",
            _CODEX_ALIASES.get(key, ()) + _KEPT_ALIASES.get(key, ()),
            codex_default=None if own_default == default else default,
            codex_stage=None if own_stage == stage else stage,
        )


FEATURES: tuple[FeatureSpec, ...] = (
    *_codex_specs(_CODEX_0169),
    _agentrt("cost_tracking", STABLE, True),
)
"""Every flag: Codex 0.169's keys (sorted, as Codex lists them), then agentrt's own."""

SPECS: Mapping[str, FeatureSpec] = MappingProxyType({spec.key: spec for spec in FEATURES})
ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: spec.key for spec in FEATURES for alias in spec.aliases}
)
DEFAULTS: Mapping[str, bool] = MappingProxyType({spec.key: spec.default for spec in FEATURES})
PARITY_DEFAULTS: Mapping[str, bool] = MappingProxyType(
    {spec.key: bool(spec.upstream_default) and spec.key not in PARITY_OFF for spec in FEATURES}
)
"""Codex parity's defaults: Codex 0.169's for every Codex key, off for agentrt's own (and for the
Codex keys agentrt builds its own way, ``PARITY_OFF``)."""

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
    parity: bool = False,
) -> tuple[Features, tuple[UnknownFeature, ...]]:
    """Resolve ``layers`` (``(source, {key: bool})``, lowest first), then the command line's
    ``enable``/``disable``, then dependencies.

    ``parity`` (strict Codex-parity mode): start from ``PARITY_DEFAULTS``, and judge a Codex key by
    Codex 0.169's stage (so ``undo`` is removed there, ``multi_agent`` deprecated).
    Returns the flags and the unknown config keys (for the caller's unknown-key warning); raises
    ``ConfigError`` for an unknown key on the command line.
    """
    states = dict(PARITY_DEFAULTS if parity else DEFAULTS)
    unknown: list[UnknownFeature] = []
    warnings: list[str] = []
    explicit: dict[str, bool] = {}
    for source, table in layers:
        for name, on in table.items():
            key = canonical(name)
            if key is None:
                unknown.append(UnknownFeature(source, f"features.{name}", closest(name)))
                continue
            _set(states, explicit, warnings, name, key, on, parity, source)
    toggles = [(ENABLE_FLAG, name, True) for name in enable] + [
        (DISABLE_FLAG, name, False) for name in disable
    ]
    for flag, name, on in toggles:
        key = canonical(name)
        if key is None:
            near = closest(name)
            hint = f" (did you mean '{near}'?)" if near else ""
            raise ConfigError(f"{flag} {name}: unknown feature{hint}; `agentrt features list` shows them")
        _set(states, explicit, warnings, name, key, on, parity, f"{flag} {name}")
    _apply_dependencies(states, explicit, warnings)
    unstable = [
        key
        for key, on in explicit.items()
        if on and states[key] and stage_of(key, parity) == UNDER_DEVELOPMENT
    ]
    if unstable and not suppress_unstable_warning:
        warnings.append(unstable_message(sorted(unstable)))
    return Features(MappingProxyType(states), tuple(dict.fromkeys(warnings))), tuple(unknown)


def stage_of(key: str, parity: bool = False) -> Stage:
    """``key``'s stage: agentrt's, or under ``parity`` Codex 0.169's (agentrt's for an agentrt key)."""
    spec = SPECS[key]
    return (spec.upstream_stage or spec.stage) if parity else spec.stage


def unstable_message(keys: Iterable[str]) -> str:
    """The one warning for switched-on ``under development`` flags."""
    return (
        "under-development features enabled: "
        + ", ".join(keys)
        + "; they are incomplete and may misbehave (suppress_unstable_features_warning = true hides this)"
    )


def _set(
    states: dict[str, bool],
    explicit: dict[str, bool],
    warnings: list[str],
    name: str,
    key: str,
    on: bool,
    parity: bool,
    source: str,
) -> None:
    stage = stage_of(key, parity)
    if parity and on and (SPECS[key].origin == "agentrt" or key in PARITY_OFF):
        raise ConfigError(
            f"{source}: feature '{key}' is agentrt's own, and parity mode (--parity, parity = true) "
            "keeps every agentrt extension off"
        )
    if name != key:
        warnings.append(f"feature '{name}' is a legacy name; use '{key}' instead")
    if stage == REMOVED:
        return  # accepted so old configs load; it does nothing
    if stage == DEPRECATED:
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
