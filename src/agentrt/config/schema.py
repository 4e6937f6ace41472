"""The schema of agentrt's ``config.toml``: tables of keys, checked by one small interpreter.

Every key agentrt reads is listed here with its kind and bounds; validation walks a TOML document
against these tables, so adding a key is adding one row. Tables that later features own
(``sandbox``, ``sandbox_workspace_write``, ``shell_environment_policy``) are accepted as-is here and
checked by the code that reads them (``agentrt.sandbox.policy``, ``agentrt.sandbox.env``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from agentrt.config.errors import ConfigError, located
from agentrt.interfaces import APPROVAL_POLICIES, SANDBOX_MODES, WIRE_APIS

BASE_PROMPTS = ("full", "compact")


@dataclass(frozen=True, slots=True)
class Spec:
    """One key: its kind (str, int, float, bool, enum, headers, table, profiles, providers) and bounds."""

    kind: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    strict_low: bool = False


PROVIDER_KEYS: Mapping[str, Spec] = MappingProxyType(
    {
        "name": Spec("str"),
        "base_url": Spec("str"),
        "env_key": Spec("str"),
        "wire_api": Spec("enum", WIRE_APIS),
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
        "model_context_window": Spec("int", low=1),
        "model_auto_compact_token_limit": Spec("int", low=0),
        "tool_output_token_limit": Spec("int", low=1),
        "tool_output_masking": Spec("bool"),
        "tool_output_mask_keep_turns": Spec("int", low=0),
        "compact_prompt": Spec("str"),
        "experimental_compact_prompt_file": Spec("str"),
        "sandbox": Spec("table"),
        "sandbox_workspace_write": Spec("table"),
        "shell_environment_policy": Spec("table"),
    }
)

TOP_LEVEL: Mapping[str, Spec] = MappingProxyType(
    {**SETTINGS, "profile": Spec("str"), "profiles": Spec("profiles"), "model_providers": Spec("providers")}
)


def check_table(
    table: Mapping[str, Any], schema: Mapping[str, Spec], *, source: str, prefix: str = ""
) -> dict[str, Any]:
    """Return a checked copy of ``table``; raise ``ConfigError`` for an unknown key or a bad value."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = prefix + key
        spec = schema.get(key)
        if spec is None:
            raise unknown_key(source, dotted, key, schema)
        out[key] = check_value(spec, value, source=source, key=dotted)
    return out


def check_value(spec: Spec, value: Any, *, source: str, key: str) -> Any:
    """Return ``value`` (a float for a float key) if it fits ``spec``; raise ``ConfigError`` otherwise."""
    kind = spec.kind
    if kind in ("profiles", "providers"):
        inner = SETTINGS if kind == "profiles" else PROVIDER_KEYS
        return {
            name: check_table(body, inner, source=source, prefix=f"{key}.{name}.")
            for name, body in _tables(value, source=source, key=key).items()
        }
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "enum": isinstance(value, str) and value in spec.choices,
        "table": isinstance(value, dict),
        "headers": isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
    }[kind]
    if ok and kind in ("int", "float"):
        ok = _in_bounds(spec, value)
    if not ok:
        raise located(source, key, f"expected {_expected(spec)}, got {_shown(value)}")
    if kind == "float":
        return float(value)
    return dict(value) if isinstance(value, dict) else value


def unknown_key(source: str, dotted: str, key: str, known: Iterable[str]) -> ConfigError:
    """``unknown key 'modle'``, with the closest known key when one is near."""
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"{source}: unknown key '{dotted}'{hint}")


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
        "headers": "a table of strings",
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
