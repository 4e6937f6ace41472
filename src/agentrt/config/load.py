"""Loading agentrt's configuration: ``$AGENTRT_HOME/config.toml``, profiles, ``-c`` overrides, flags.

Precedence, highest first: command-line flags > ``-c key=value`` overrides > the selected profile
(``-p NAME``, else ``profile = "NAME"``) > the top level of ``config.toml`` > built-in defaults.
Each layer is checked against the schema on its own, so an error names the layer it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agentrt.config.errors import ConfigError, located
from agentrt.config.providers import BUILTIN_IDS, ProviderConfig, builtin_providers, make_provider
from agentrt.config.schema import SETTINGS, TOP_LEVEL, check_table

CONFIG_FILE = "config.toml"
DEFAULT_PROVIDER = "openai"
DEFAULT_MODEL = "gpt-5-codex"
# A provider with its own default model; any other provider gets DEFAULT_MODEL.
PROVIDER_DEFAULT_MODELS: Mapping[str, str] = MappingProxyType({"local": "local"})
FLAGS_SOURCE = "command line"
OVERRIDE_SOURCE = "-c"
# Config fields filled straight from the merged settings of the same name.
_PLAIN_FIELDS = (
    "sandbox_mode",
    "approval_policy",
    "project_doc_max_bytes",
    "max_turns",
    "max_wall_s",
    "max_tokens",
    "tool_output_max_bytes",
    "text_tools",
    "model_temperature",
    "model_max_output_tokens",
    "base_prompt",
    "model_context_window",
    "model_auto_compact_token_limit",
    "tool_output_token_limit",
    "tool_output_masking",
    "tool_output_mask_keep_turns",
    "compact_prompt",
    "experimental_compact_prompt_file",
)


@dataclass(frozen=True)
class Config:
    """The effective settings of one agentrt run."""

    home: Path
    model: str
    model_provider: str
    provider: ProviderConfig
    profile: str | None
    sandbox_mode: str = "read-only"
    approval_policy: str = "never"
    project_doc_max_bytes: int = 32768
    max_turns: int = 50
    max_wall_s: float = 1800.0
    max_tokens: int | None = None
    tool_output_max_bytes: int = 16384
    text_tools: bool | None = None
    model_temperature: float | None = None
    model_max_output_tokens: int | None = None
    base_prompt: str | None = None
    model_context_window: int | None = None
    """The model's context window in tokens; ``None``: from the table of known models."""
    model_auto_compact_token_limit: int | None = None
    """Compact the history when a request would carry this many tokens; ``None``: 90 % of the window;
    0: never (not even when the server refuses a request as too long)."""
    tool_output_token_limit: int | None = None
    """Cap on the tokens of any one tool output sent to the model (head and tail kept)."""
    tool_output_masking: bool = True
    """Replace old tool outputs by a one-line placeholder in what is sent, once the history is large."""
    tool_output_mask_keep_turns: int = 5
    """Model turns whose tool outputs are never masked: the newest ones."""
    compact_prompt: str | None = None
    """The instructions for the compaction summary; ``None``: agentrt's own."""
    experimental_compact_prompt_file: str | None = None
    """A file holding the compaction instructions (``compact_prompt`` wins when both are set)."""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def use_text_tools(self) -> bool:
        """Whether tool calls travel in message text: ``text_tools`` if set, else the provider's choice."""
        return self.provider.text_tools if self.text_tools is None else self.text_tools

    @property
    def temperature(self) -> float | None:
        """The sampling temperature to send: ``model_temperature`` if set, else the provider's (or none)."""
        return self.provider.temperature if self.model_temperature is None else self.model_temperature

    @property
    def base_prompt_kind(self) -> str:
        """The agent's base prompt, ``full`` or ``compact``: ``base_prompt`` if set, else the provider's."""
        return self.provider.base_prompt if self.base_prompt is None else self.base_prompt

    @property
    def max_output_tokens(self) -> int | None:
        """The cap on one reply's tokens: ``model_max_output_tokens`` if set, else the provider's (or none)."""
        mine = self.model_max_output_tokens
        return self.provider.max_output_tokens if mine is None else mine


def load_config(
    home: Path,
    *,
    env: Mapping[str, str],
    profile: str | None = None,
    overrides: Sequence[str] = (),
    flags: Mapping[str, Any] = MappingProxyType({}),
) -> Config:
    """Read ``home/config.toml`` (missing means defaults) and apply profile, overrides and flags.

    ``flags`` maps config keys to values; ``None`` values are ignored, so parsed CLI options can be
    passed straight through. Raises ``ConfigError`` naming the bad key and where it came from.
    """
    path = home / CONFIG_FILE
    file_doc = read_config_file(path)
    over: dict[str, Any] = {}
    for item in overrides:
        over = deep_merge(over, parse_override(item))
    flag_doc = check_table({k: v for k, v in flags.items() if v is not None}, SETTINGS, source=FLAGS_SOURCE)
    name, profile_doc = _select_profile(file_doc, over, profile, path=path)
    merged = deep_merge(deep_merge(deep_merge(file_doc, profile_doc), over), flag_doc)
    layers = ((FLAGS_SOURCE, flag_doc), (OVERRIDE_SOURCE, over), (f"{path} [profiles.{name}]", profile_doc))
    provider = _resolve_provider(merged, env, layers=(*layers, (str(path), file_doc)))
    model = merged.get("model") or PROVIDER_DEFAULT_MODELS.get(provider.id, DEFAULT_MODEL)
    return Config(
        home=home,
        model=model,
        model_provider=provider.id,
        provider=provider,
        profile=name,
        raw=merged,
        **{key: merged[key] for key in _PLAIN_FIELDS if key in merged},
    )


def read_config_file(path: Path) -> dict[str, Any]:
    """The checked contents of ``config.toml``; ``{}`` when the file does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    import tomllib  # here, not at the top: its import costs ~10 ms, and most runs need no parse

    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    checked = check_table(doc, TOP_LEVEL, source=str(path))
    for provider_id in checked.get("model_providers", {}):
        if provider_id in BUILTIN_IDS:
            raise located(
                str(path),
                f"model_providers.{provider_id}",
                f"'{provider_id}' is a built-in provider and cannot be redefined; give yours another id",
            )
    return checked


def parse_override(item: str) -> dict[str, Any]:
    """``-c key=value`` as a checked nested dict; the value is TOML if it parses, else a string."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f'-c {item!r}: expected key=value, e.g. -c model="gpt-5"')
    parts = [part.strip() for part in key.split(".")]
    if not all(parts):
        raise ConfigError(f"-c {key}: empty part in dotted key")
    value: Any = _toml_value(text)
    for part in reversed(parts):
        value = {part: value}
    checked: dict[str, Any] = check_table(value, TOP_LEVEL, source=OVERRIDE_SOURCE)
    return checked


def _toml_value(text: str) -> Any:
    import tomllib

    try:
        doc = tomllib.loads(f"value = {text}")
    except tomllib.TOMLDecodeError:
        doc = {}
    if len(doc) == 1:
        return doc["value"]
    return text.strip().strip("\"'")


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``top``; tables merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            out[key] = deep_merge(below, value)
        else:
            out[key] = dict(value) if isinstance(value, dict) else value
    return out


def _select_profile(
    file_doc: Mapping[str, Any], over: Mapping[str, Any], chosen: str | None, *, path: Path
) -> tuple[str | None, dict[str, Any]]:
    """The selected profile's name and settings (``-p`` beats ``-c profile=`` beats the file)."""
    name: str | None
    if chosen is not None:
        name, source = chosen, "-p"
    elif "profile" in over:
        name, source = over["profile"], OVERRIDE_SOURCE
    else:
        name, source = file_doc.get("profile"), str(path)
    if name is None:
        return None, {}
    profiles = deep_merge(file_doc.get("profiles", {}), over.get("profiles", {}))
    if name not in profiles:
        known = ", ".join(sorted(profiles)) if profiles else f"none; add [profiles.{name}] to {path}"
        if source == "-p":
            raise ConfigError(f"-p: unknown profile '{name}' (known: {known})")
        raise located(source, "profile", f"unknown profile '{name}' (known: {known})")
    return name, dict(profiles[name])


def _resolve_provider(
    merged: Mapping[str, Any], env: Mapping[str, str], *, layers: Sequence[tuple[str, Mapping[str, Any]]]
) -> ProviderConfig:
    """The ``ProviderConfig`` that ``model_provider`` names, built-ins first, ``-c`` tweaks applied."""
    provider_id = merged.get("model_provider", DEFAULT_PROVIDER)
    builtins = builtin_providers(env)
    user = merged.get("model_providers", {})
    if provider_id not in builtins and provider_id not in user:
        known = ", ".join(sorted({*builtins, *user}))
        source = next((label for label, doc in layers if "model_provider" in doc), FLAGS_SOURCE)
        raise located(source, "model_provider", f"unknown provider '{provider_id}' (known: {known})")
    table = deep_merge(builtins.get(provider_id, {}), user.get(provider_id, {}))
    source = next(
        (label for label, doc in reversed(layers) if provider_id in doc.get("model_providers", {})),
        OVERRIDE_SOURCE,
    )
    return make_provider(provider_id, table, source=source)
