"""The schema of agentrt's ``config.toml``: tables of keys, checked by one small interpreter.

Every key agentrt reads is listed here with its kind and bounds; validation walks a TOML document
against these tables, so adding a key is adding one row. Tables that other modules own (``sandbox``,
the values of ``sandbox_workspace_write`` and ``shell_environment_policy``) are checked by the code
that reads them (``agentrt.sandbox.policy``, ``agentrt.sandbox.env``).

A Codex ``config.toml`` loads as it is. The table also lists every key Codex CLI 0.169 accepts
(established against the real binary: each key below is one ``codex exec --strict-config`` accepts,
see ``tests/config/test_codex_config.py``). A Codex key agentrt has no feature for is marked
``applied=False``: its value is still checked, then it is left out of the result and named in
``KeyNotes.ignored`` (the one warning line). A key in neither list is not an error either: Codex
0.169 itself warns "ignoring unrecognized configuration settings" and goes on, so agentrt names it
in ``KeyNotes.unknown``, with the closest known key as a hint. ``strict`` loading (Codex's
``--strict-config``) turns both kinds into one ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from agentrt.config.errors import ConfigError, located
from agentrt.config.features import check_features_table
from agentrt.interfaces import APPROVAL_POLICIES, SANDBOX_MODES, WIRE_APIS

BASE_PROMPTS = ("full", "compact")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
REASONING_SUMMARIES = ("auto", "concise", "detailed", "none")
VERBOSITIES = ("low", "medium", "high")
HISTORY_PERSISTENCE = ("save-all", "none")
APPROVALS_REVIEWERS = ("user", "guardian", "auto_review", "guardian_subagent")
"""Who answers approval questions: the person, or the guardian (agentrt's name, Codex's, Codex's legacy one)."""


@dataclass(frozen=True, slots=True)
class Spec:
    """One key: its kind (str, bool, int, float, enum, strings, headers, table, section, any,
    profiles, providers, features, mcp_servers) and bounds.

    ``table`` accepts any table unchecked; ``section`` is a table with keys of its own (``fields``);
    ``strings`` is an array of strings; ``headers`` a table of strings; ``any`` any value;
    ``features`` a table of booleans whose keys ``agentrt.config.features`` judges.
    """

    kind: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    strict_low: bool = False
    applied: bool = True
    """False: a Codex key agentrt accepts but does not act on; it is named in the config warning."""
    noop: tuple[object, ...] = ()
    """Values of an unapplied key that ask for what agentrt does anyway: those are not warned about."""
    fields: Mapping[str, Spec] | None = None
    """A ``section``'s keys."""


def codex(kind: str, choices: tuple[str, ...] = (), *, noop: tuple[object, ...] = ()) -> Spec:
    """A Codex key agentrt accepts and does not use (yet)."""
    return Spec(kind, choices, applied=False, noop=noop)


PROVIDER_KEYS: Mapping[str, Spec] = MappingProxyType(
    {
        "name": Spec("str"),
        "base_url": Spec("str"),
        "env_key": Spec("str"),
        "env_key_instructions": Spec("str"),
        "experimental_bearer_token": Spec("str"),
        "wire_api": Spec("enum", WIRE_APIS),
        "query_params": Spec("headers"),
        "text_tools": Spec("bool"),
        "request_max_retries": Spec("int", low=0, high=100),
        "stream_max_retries": Spec("int", low=0, high=100),
        "stream_idle_timeout_ms": Spec("int", low=1),
        "max_reply_chars": Spec("int", low=1),
        "connect_timeout_ms": Spec("int", low=1),
        "http_headers": Spec("headers"),
        "env_http_headers": Spec("headers"),
        "requires_api_key": Spec("bool"),
        "temperature": Spec("float", low=0, high=2),
        "max_output_tokens": Spec("int", low=1),
        "base_prompt": Spec("enum", BASE_PROMPTS),
        # Codex's, not used: agentrt has no OpenAI login, websocket transport or model catalog.
        "requires_openai_auth": codex("bool", noop=(False,)),
        "supports_websockets": codex("bool", noop=(False,)),
        "websocket_connect_timeout_ms": codex("int"),
        "supports_standalone_web_search": codex("bool"),
        "model_catalog_url": codex("str"),
        "auth": codex("table"),
        "aws": codex("table"),
        "gateway_oauth": codex("table"),
    }
)

HISTORY_KEYS: Mapping[str, Spec] = MappingProxyType(
    {"persistence": Spec("enum", HISTORY_PERSISTENCE), "max_bytes": codex("int")}
)

# agentrt never makes /tmp or $TMPDIR shared-writable (each command gets a private TMPDIR), so
# ``exclude_* = true`` is what it does anyway. The other values are checked by agentrt.sandbox.policy.
WORKSPACE_WRITE_KEYS: Mapping[str, Spec] = MappingProxyType(
    {
        "writable_roots": Spec("any"),
        "network_access": Spec("any"),
        "exclude_slash_tmp": codex("bool", noop=(True,)),
        "exclude_tmpdir_env_var": codex("bool", noop=(True,)),
    }
)

# Values checked by agentrt.sandbox.env.check_env_policy.
ENV_POLICY_KEYS: Mapping[str, Spec] = MappingProxyType(
    {
        key: Spec("any")
        for key in (
            "inherit",
            "ignore_default_excludes",
            "exclude",
            "set",
            "include_only",
            "experimental_use_profile",
        )
    }
)

# [mcp_servers.NAME] (agentrt.tools.mcp), as Codex 0.169 reads it: stdio (command…) or streamable HTTP (url…).
MCP_SERVER_KEYS: Mapping[str, Spec] = MappingProxyType(
    {
        "command": Spec("str"),
        "args": Spec("strings"),
        "env": Spec("headers"),
        "env_vars": Spec("any"),  # names, or {name = "X"} tables: checked by _check_mcp_server
        "cwd": Spec("str"),
        "url": Spec("str"),
        "bearer_token_env_var": Spec("str"),
        "http_headers": Spec("headers"),
        "env_http_headers": Spec("headers"),
        "startup_timeout_sec": Spec("float", low=0, strict_low=True),
        "startup_timeout_ms": Spec("int", low=1),
        "tool_timeout_sec": Spec("float", low=0, strict_low=True),
        "enabled": Spec("bool"),
        "required": Spec("bool"),
        "enabled_tools": Spec("strings"),
        "disabled_tools": Spec("strings"),
        "scopes": codex("strings"),
        "oauth_resource": codex("str"),
        "tools": codex("table"),
    }
)

# Keys of Codex CLI 0.169's config.toml that agentrt accepts and does not use (yet).
CODEX_ONLY: Mapping[str, Spec] = MappingProxyType(
    {
        "plan_mode_reasoning_effort": codex("enum", REASONING_EFFORTS),
        "developer_instructions": codex("str"),
        "model_instructions_file": codex("str"),
        "instructions": codex("str"),
        "project_doc_fallback_filenames": codex("strings"),
        "project_root_markers": codex("strings"),
        "hide_agent_reasoning": codex("bool"),
        "show_raw_agent_reasoning": codex("bool"),
        "notify": codex("strings"),
        "file_opener": codex("enum", ("vscode", "vscode-insiders", "windsurf", "cursor", "none")),
        "web_search": Spec("enum", ("disabled", "cached", "live")),
        "check_for_update_on_startup": codex("bool", noop=(False,)),
        "disable_paste_burst": codex("bool"),
        "forced_login_method": codex("enum", ("chatgpt", "api")),
        "forced_chatgpt_workspace_id": codex("any"),
        "cli_auth_credentials_store": codex("enum", ("file", "keyring", "auto", "ephemeral")),
        "mcp_oauth_credentials_store": codex("enum", ("auto", "file", "keyring")),
        "mcp_oauth_callback_port": codex("int"),
        "mcp_oauth_callback_url": codex("str"),
        "mcp_optional_startup_grace_ms": codex("int"),
        "mcp_enterprise_managed_auth": codex("table"),
        "model_auto_compact_token_limit_scope": codex("str"),
        "model_post_turn_compact_threshold_percent": codex("any"),
        "model_catalog_json": codex("str"),
        "review_model": codex("str"),
        "oss_provider": codex("str"),
        "chatgpt_base_url": codex("str"),
        "service_tier": codex("str"),
        "personality": codex("str"),
        "default_permissions": codex("str"),
        "allow_login_shell": codex("bool"),
        "allow_symlinked_codex_home": codex("bool"),
        "background_terminal_max_timeout": codex("int"),
        "thread_unload_delay_secs": codex("any"),
        "experimental_use_unified_exec_tool": codex("bool"),
        "experimental_thread_store": codex("any"),
        "experimental_realtime_start_instructions": codex("str"),
        "experimental_realtime_webrtc_call_base_url": codex("str"),
        "experimental_realtime_ws_backend_prompt": codex("str"),
        "experimental_realtime_ws_base_url": codex("str"),
        "experimental_realtime_ws_model": codex("str"),
        "experimental_realtime_ws_startup_context": codex("str"),
        "include_apps_instructions": codex("bool"),
        "include_collaboration_mode_instructions": codex("bool"),
        "include_environment_context": codex("bool"),
        "include_environment_context_time": codex("bool"),
        "include_permissions_instructions": codex("bool"),
        "js_repl_node_path": codex("str"),
        "js_repl_node_module_dirs": codex("strings"),
        "log_dir": codex("str"),
        "sqlite_home": codex("str"),
        "apps_mcp_product_sku": codex("str"),
        **{
            key: codex("table")
            for key in (
                "tui",
                "projects",
                "otel",
                "tools",
                "analytics",
                "apps",
                "audio",
                "auto_review",
                "browser_use",
                "cloud",
                "computer_use",
                "desktop",
                "feedback",
                "ghost_snapshot",
                "goals",
                "hooks",
                "marketplaces",
                "memories",
                "notice",
                "orchestrator",
                "permissions",
                "plugins",
                "realtime",
                "responses_api_metadata",
                "skills",
                "tool_suggest",
                "windows",
            )
        },
    }
)

# The keys a profile may set: every top-level key except the structural ones.
SETTINGS: Mapping[str, Spec] = MappingProxyType(
    {
        "model": Spec("str"),
        "model_provider": Spec("str"),
        "sandbox_mode": Spec("enum", SANDBOX_MODES),
        "approval_policy": Spec("enum", APPROVAL_POLICIES),
        "project_doc_max_bytes": Spec("int", low=0),
        "max_turns": Spec("int", low=1),
        "max_wall_s": Spec("float", low=0, strict_low=True),
        "max_tokens": Spec("int", low=1),
        "tool_output_max_bytes": Spec("int", low=1),
        "text_tools": Spec("bool"),
        "model_temperature": Spec("float", low=0, high=2),
        "model_max_output_tokens": Spec("int", low=1),
        "base_prompt": Spec("enum", BASE_PROMPTS),
        "model_reasoning_effort": Spec("enum", REASONING_EFFORTS),
        "model_reasoning_summary": Spec("enum", REASONING_SUMMARIES),
        "model_verbosity": Spec("enum", VERBOSITIES),
        "model_context_window": Spec("int", low=1),
        "model_auto_compact_token_limit": Spec("int", low=0),
        "tool_output_token_limit": Spec("int", low=1),
        "tool_output_masking": Spec("bool"),
        "tool_output_mask_keep_turns": Spec("int", low=0),
        "compact_prompt": Spec("str"),
        "experimental_compact_prompt_file": Spec("str"),
        "openai_base_url": Spec("str"),
        "history": Spec("section", fields=HISTORY_KEYS),
        "model_prices": Spec("table"),
        "max_cost_usd": Spec("float", low=0, strict_low=True),
        "sandbox": Spec("table"),
        "sandbox_workspace_write": Spec("section", fields=WORKSPACE_WRITE_KEYS),
        "shell_environment_policy": Spec("section", fields=ENV_POLICY_KEYS),
        "features": Spec("features"),
        "mcp_servers": Spec("mcp_servers"),
        # [agents] max_threads, max_depth and [agents.NAME] roles: checked by agent.subagents.load_settings.
        "agents": Spec("table"),
        "suppress_unstable_features_warning": Spec("bool"),
        "approvals_reviewer": Spec("enum", APPROVALS_REVIEWERS),
        "guardian_timeout_s": Spec("float", low=0, strict_low=True),
        "parity": Spec("bool"),
        "memory_retrieval": Spec("enum", ("lexical", "semantic")),
        **CODEX_ONLY,
    }
)

TOP_LEVEL: Mapping[str, Spec] = MappingProxyType(
    {**SETTINGS, "profile": Spec("str"), "profiles": Spec("profiles"), "model_providers": Spec("providers")}
)

# ``$AGENTRT_HOME/NAME.config.toml`` (``-p NAME``): a whole config layer that selects no profile.
PROFILE_FILE: Mapping[str, Spec] = MappingProxyType(
    {key: spec for key, spec in TOP_LEVEL.items() if key not in ("profile", "profiles")}
)


@dataclass(frozen=True, slots=True)
class UnknownKey:
    """A key neither agentrt nor Codex knows, where it was found, and the closest known key."""

    source: str
    key: str
    hint: str | None = None

    def __str__(self) -> str:
        near = f" (did you mean '{self.hint}'?)" if self.hint else ""
        return f"{self.source}: unknown key '{self.key}'{near}"


@dataclass
class KeyNotes:
    """What checking found besides errors: unknown keys, and Codex keys agentrt does not use."""

    unknown: list[UnknownKey] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """Dotted names, as written (``notify``, ``model_providers.x.requires_openai_auth``)."""

    def ignored_keys(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.ignored)))

    def unknown_keys(self) -> tuple[UnknownKey, ...]:
        return tuple(dict.fromkeys(self.unknown))

    def strict_error(self) -> ConfigError | None:
        """The error ``strict`` loading raises for these notes; ``None`` when there is nothing to say."""
        parts = [str(note) for note in self.unknown_keys()]
        if self.ignored:
            parts.append(ignored_message(self.ignored_keys()) + " (strict config refuses them)")
        return ConfigError("; ".join(parts)) if parts else None


def ignored_message(keys: Iterable[str]) -> str:
    """``config keys agentrt does not use yet: notify, otel, tui``."""
    return "config keys agentrt does not use yet: " + ", ".join(keys)


def unknown_message(notes: Iterable[UnknownKey]) -> str:
    """``config keys that nothing reads, ignored: <file>: unknown key 'modle' (did you mean 'model'?)``."""
    return "config keys that nothing reads, ignored: " + "; ".join(str(note) for note in notes)


def check_table(
    table: Mapping[str, Any],
    schema: Mapping[str, Spec],
    *,
    source: str,
    prefix: str = "",
    notes: KeyNotes | None = None,
) -> dict[str, Any]:
    """Return a checked copy of ``table`` holding the keys agentrt uses; raise ``ConfigError`` for a
    bad value.

    Unknown keys and Codex keys agentrt does not use are left out of the copy and recorded in
    ``notes``; without ``notes`` an unknown key is an error (for tables that only agentrt writes).
    """
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = prefix + key
        spec = schema.get(key)
        if spec is None:
            if notes is None:
                raise unknown_key(source, dotted, key, schema)
            notes.unknown.append(UnknownKey(source, dotted, _closest(key, schema)))
            continue
        checked = check_value(spec, value, source=source, key=dotted, notes=notes)
        if spec.applied:
            out[key] = checked
        elif notes is not None and not any(checked == ok and type(checked) is type(ok) for ok in spec.noop):
            notes.ignored.append(dotted)
    return out


def check_value(spec: Spec, value: Any, *, source: str, key: str, notes: KeyNotes | None = None) -> Any:
    """Return ``value`` (a float for a float key) if it fits ``spec``; raise ``ConfigError`` otherwise."""
    kind = spec.kind
    if kind in ("profiles", "providers"):
        inner = SETTINGS if kind == "profiles" else PROVIDER_KEYS
        return {
            name: check_table(body, inner, source=source, prefix=f"{key}.{name}.", notes=notes)
            for name, body in _tables(value, source=source, key=key).items()
        }
    if kind == "features":
        return check_features_table(value, source=source, key=key)
    if kind == "mcp_servers":  # one table per server; a bad entry is an error naming it
        return {
            name: _check_mcp_server(
                check_table(body, MCP_SERVER_KEYS, source=source, prefix=f"{key}.{name}.", notes=notes),
                source=source,
                key=f"{key}.{name}",
            )
            for name, body in _tables(value, source=source, key=key).items()
        }
    if kind == "section":
        if not isinstance(value, dict):
            raise located(source, key, f"expected a table, got {_shown(value)}")
        assert spec.fields is not None
        return check_table(value, spec.fields, source=source, prefix=f"{key}.", notes=notes)
    ok = {
        "any": True,
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "enum": isinstance(value, str) and value in spec.choices,
        "table": isinstance(value, dict),
        "headers": isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
        "strings": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if ok and kind in ("int", "float"):
        ok = _in_bounds(spec, value)
    if not ok:
        raise located(source, key, f"expected {_expected(spec)}, got {_shown(value)}")
    if kind == "float":
        return float(value)
    return dict(value) if isinstance(value, dict) else value


def _check_mcp_server(server: dict[str, Any], *, source: str, key: str) -> dict[str, Any]:
    """One MCP server: stdio (``command``) or streamable HTTP (``url``), not both, and only its own keys."""
    stdio_only = ("args", "env", "env_vars", "cwd")
    http_only = ("bearer_token_env_var", "http_headers", "env_http_headers")
    if ("command" in server) == ("url" in server):
        raise located(source, key, "invalid transport: set either command (stdio) or url (streamable HTTP)")
    wrong = [k for k in (http_only if "command" in server else stdio_only) if k in server]
    if wrong:
        kind = "stdio" if "command" in server else "streamable HTTP"
        raise located(source, key, f"{wrong[0]} is not supported for {kind}")
    names = server.get("env_vars", [])
    ok = isinstance(names, list) and all(
        isinstance(n, str) or (isinstance(n, dict) and isinstance(n.get("name"), str)) for n in names
    )
    if not ok:
        raise located(source, f"{key}.env_vars", "expected an array of variable names")
    return server


def unknown_key(source: str, dotted: str, key: str, known: Iterable[str]) -> ConfigError:
    """``unknown key 'modle'``, with the closest known key when one is near."""
    return ConfigError(str(UnknownKey(source, dotted, _closest(key, known))))


def _closest(key: str, known: Iterable[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
    return close[0] if close else None


def _tables(value: Any, *, source: str, key: str) -> dict[str, dict[str, Any]]:
    """A table whose every value is a table (``[profiles.*]``, ``[model_providers.*]``)."""
    if not isinstance(value, dict):
        raise located(source, key, f"expected a table, got {_shown(value)}")
    for name, body in value.items():
        if not isinstance(body, dict):
            raise located(source, f"{key}.{name}", f"expected a table, got {_shown(body)}")
    return value


def _in_bounds(spec: Spec, value: float) -> bool:
    if spec.low is not None and (value <= spec.low if spec.strict_low else value < spec.low):
        return False
    return spec.high is None or value <= spec.high


def _expected(spec: Spec) -> str:
    if spec.kind == "enum":
        return "one of " + ", ".join(spec.choices)
    base = {
        "str": "a string",
        "bool": "a boolean (true or false)",
        "int": "an integer",
        "float": "a number",
        "table": "a table",
        "section": "a table",
        "headers": "a table of strings",
        "strings": "an array of strings",
    }[spec.kind]
    bounds = []
    if spec.low is not None:
        bounds.append(f"{'>' if spec.strict_low else '>='} {spec.low:g}")
    if spec.high is not None:
        bounds.append(f"<= {spec.high:g}")
    return base + (" " + " and ".join(bounds) if bounds else "")


def _shown(value: Any) -> str:
    """How a bad value reads in a message: ``'x'`` for a string, ``integer 5``, ``table``."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"{'integer' if isinstance(value, int) else 'float'} {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value}"
