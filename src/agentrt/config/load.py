"""Loading agentrt's configuration: ``$AGENTRT_HOME/config.toml``, profiles, ``-c`` overrides, flags.

Precedence, highest first: command-line flags > ``-c key=value`` overrides > the selected profile
(``-p NAME``, else ``-c profile=NAME``, else ``profile = "NAME"``) > the top level of
``config.toml`` > built-in defaults. Each layer is checked against the schema on its own, so an
error names the layer it came from.

A profile is either way Codex has written one: a ``[profiles.NAME]`` table in ``config.toml``
(Codex before 0.169), or a whole config file ``$AGENTRT_HOME/NAME.config.toml`` (Codex 0.169's
``-p NAME``, which layers that file over ``config.toml``; ``model_providers`` may be defined there).
A name defined both ways is an error, as it is in Codex 0.169. A name defined neither way is an
error too (Codex 0.169 silently runs without it; agentrt names the profiles it knows instead).

Keys that agentrt does not use (Codex keys without an agentrt feature) and keys nobody knows are
not errors, as in Codex 0.169: ``Config.ignored_keys`` and ``Config.unknown_keys`` name them for
the one warning the session prints (``Config.warnings``). ``strict=True`` (``--strict-config``)
makes them one ``ConfigError``; a typo is told the closest known key either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agentrt.config.errors import ConfigError, located
from agentrt.config.features import Features, resolve_features
from agentrt.config.providers import RESERVED_IDS, ProviderConfig, builtin_providers, make_provider
from agentrt.config.schema import (
    PROFILE_FILE,
    SETTINGS,
    TOP_LEVEL,
    KeyNotes,
    Spec,
    UnknownKey,
    check_table,
    ignored_message,
    unknown_message,
)

CONFIG_FILE = "config.toml"
PROFILE_SUFFIX = ".config.toml"
WARNING_PREFIX = "agentrt: warning: "
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
    "max_cost_usd",
    "model_reasoning_effort",
    "model_reasoning_summary",
    "model_verbosity",
    "model_context_window",
    "model_auto_compact_token_limit",
    "tool_output_token_limit",
    "tool_output_masking",
    "tool_output_mask_keep_turns",
    "compact_prompt",
    "experimental_compact_prompt_file",
    "parity",
)


PARITY_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"model_reasoning_summary": "auto", "tool_output_masking": False, "tool_output_max_bytes": 41_216}
)
"""Codex 0.169's defaults where agentrt's differ (parity mode): it asks for a reasoning summary, it
never masks old tool outputs (that is agentrt's own), and a command's output may reach 10,000 tokens
(4 bytes each, plus its header)."""


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
    max_cost_usd: float | None = None
    """Stop a session's turn before a request would take its cost past this (``--max-cost``)."""
    model_reasoning_effort: str | None = None
    """Responses wire: ``reasoning.effort`` (chat: ``reasoning_effort``); ``None`` sends nothing."""
    model_reasoning_summary: str | None = None
    """Responses wire: ``reasoning.summary`` (``auto``, ``concise``, ``detailed``, ``none``)."""
    model_verbosity: str | None = None
    """Responses wire: ``text.verbosity`` (chat: ``verbosity``)."""
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
    parity: bool = False
    """Strict Codex-parity mode (``--parity``): Codex 0.169's tools, request shape and flag defaults,
    and none of agentrt's own extensions."""
    history_persistence: str = "save-all"
    """``[history] persistence``: ``none`` keeps the interactive session from writing history.jsonl."""
    ignored_keys: tuple[str, ...] = ()
    """Codex keys that were set and that agentrt does not use (yet), dotted and sorted."""
    unknown_keys: tuple[UnknownKey, ...] = ()
    """Keys neither agentrt nor Codex knows, each with where it was found and the closest known key."""
    raw: dict[str, Any] = field(default_factory=dict)
    """The merged settings agentrt uses (ignored and unknown keys left out)."""
    features: Features = field(default_factory=Features)
    """The resolved feature flags (``agentrt.config.features``): call sites ask ``features.enabled(KEY)``."""

    def warnings(self) -> tuple[str, ...]:
        """The lines to show once per run (stderr in exec, the screen in the interactive session):
        ``agentrt: warning: config keys agentrt does not use yet: notify, otel, tui``, one for
        unknown keys (unknown feature keys included), then the feature flags' own (legacy names,
        deprecated keys, dependencies, under-development flags); none when all is well."""
        lines = []
        if self.ignored_keys:
            lines.append(WARNING_PREFIX + ignored_message(self.ignored_keys))
        if self.unknown_keys:
            lines.append(WARNING_PREFIX + unknown_message(self.unknown_keys))
        lines.extend(WARNING_PREFIX + line for line in self.features.warnings)
        return tuple(lines)

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
        """The agent's base prompt, ``full`` or ``compact``: ``base_prompt`` if set, else the provider's;
        ``codex`` in parity mode (the guide to the tools Codex 0.169 offers)."""
        if self.parity:
            return "codex"
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
    strict: bool = False,
    user_config: bool = True,
    enable: Sequence[str] = (),
    disable: Sequence[str] = (),
) -> Config:
    """Read ``home/config.toml`` (missing means defaults) and apply profile, overrides and flags.

    ``flags`` maps config keys to values; ``None`` values are ignored, so parsed CLI options can be
    passed straight through. Raises ``ConfigError`` naming the bad key and where it came from.
    ``strict`` (Codex's ``--strict-config``): an unknown key, or a Codex key agentrt does not use,
    is an error naming them all, instead of a warning (``Config.warnings``). ``user_config=False``
    (``--ignore-user-config``): ``config.toml`` is not read; overrides and flags still apply.
    ``enable``/``disable`` (``--enable KEY``/``--disable KEY``) switch feature flags over every config
    layer (a key in both: off); an unknown key there is a ``ConfigError``, in config a warning.
    """
    notes = KeyNotes()
    path = home / CONFIG_FILE
    file_doc = (read_config_file(path, notes=notes) or {}) if user_config else {}
    over: dict[str, Any] = {}
    for item in overrides:
        over = deep_merge(over, parse_override(item, notes=notes))
    given = {k: v for k, v in flags.items() if v is not None}
    flag_doc = check_table(given, SETTINGS, source=FLAGS_SOURCE, notes=notes)
    name, profile_doc, profile_source = _select_profile(file_doc, over, profile, path=path, notes=notes)
    merged = deep_merge(deep_merge(deep_merge(file_doc, profile_doc), over), flag_doc)
    if merged.get("parity"):
        merged = {**PARITY_DEFAULTS, **merged}
    features = _resolve_features(
        (
            (str(path), file_doc),
            (profile_source, profile_doc),
            (OVERRIDE_SOURCE, over),
            (FLAGS_SOURCE, flag_doc),
        ),
        enable=enable,
        disable=disable,
        quiet=bool(merged.get("suppress_unstable_features_warning", False)),
        notes=notes,
        parity=bool(merged.get("parity", False)),
    )
    if strict and (error := notes.strict_error()) is not None:
        raise error
    layers = ((FLAGS_SOURCE, flag_doc), (OVERRIDE_SOURCE, over), (profile_source, profile_doc))
    provider = _resolve_provider(merged, env, layers=(*layers, (str(path), file_doc)))
    model = merged.get("model") or PROVIDER_DEFAULT_MODELS.get(provider.id, DEFAULT_MODEL)
    history = merged.get("history", {})
    return Config(
        home=home,
        model=model,
        model_provider=provider.id,
        provider=provider,
        profile=name,
        raw=merged,
        history_persistence=history.get("persistence", "save-all"),
        ignored_keys=notes.ignored_keys(),
        unknown_keys=notes.unknown_keys(),
        features=features,
        **{key: merged[key] for key in _PLAIN_FIELDS if key in merged},
    )


def _resolve_features(
    layers: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    enable: Sequence[str],
    disable: Sequence[str],
    quiet: bool,
    notes: KeyNotes,
    parity: bool = False,
) -> Features:
    """The flags from each layer's ``features`` table (lowest first) and the command line; unknown
    config keys join the other unknown keys (one warning, or ``--strict-config``'s error)."""
    tables = [(label, doc["features"]) for label, doc in layers if doc.get("features")]
    if not tables and not enable and not disable and not parity:
        return Features()
    features, unknown = resolve_features(
        tables, enable=enable, disable=disable, suppress_unstable_warning=quiet, parity=parity
    )
    notes.unknown.extend(UnknownKey(item.source, item.key, item.hint) for item in unknown)
    return features


def read_config_file(
    path: Path, *, schema: Mapping[str, Spec] = TOP_LEVEL, notes: KeyNotes | None = None
) -> dict[str, Any] | None:
    """The checked contents of a config file; ``None`` when the file does not exist.

    Without ``notes``, an unknown key is an error.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    import tomllib  # here, not at the top: its import costs ~10 ms, and most runs need no parse

    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    checked = check_table(doc, schema, source=str(path), notes=notes)
    for provider_id in checked.get("model_providers", {}):
        if provider_id in RESERVED_IDS:
            raise located(
                str(path),
                f"model_providers.{provider_id}",
                f"'{provider_id}' is a built-in provider and cannot be redefined; give yours another id",
            )
    return checked


def parse_override(item: str, *, notes: KeyNotes | None = None) -> dict[str, Any]:
    """``-c key=value`` as a checked nested dict; the value is TOML if it parses, else a string.

    Without ``notes``, an unknown key is an error.
    """
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
    checked: dict[str, Any] = check_table(value, TOP_LEVEL, source=OVERRIDE_SOURCE, notes=notes)
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


def profile_path(home: Path, name: str) -> Path | None:
    """``home/NAME.config.toml``; ``None`` for a name that is not a plain file name."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        return None
    return home / f"{name}{PROFILE_SUFFIX}"


def _select_profile(
    file_doc: Mapping[str, Any],
    over: Mapping[str, Any],
    chosen: str | None,
    *,
    path: Path,
    notes: KeyNotes,
) -> tuple[str | None, dict[str, Any], str]:
    """The selected profile's name, settings and source label (``-p`` beats ``-c profile=`` beats
    the file): ``[profiles.NAME]`` or ``NAME.config.toml`` beside ``config.toml``."""
    name: str | None
    if chosen is not None:
        name, source = chosen, "-p"
    elif "profile" in over:
        name, source = over["profile"], OVERRIDE_SOURCE
    else:
        name, source = file_doc.get("profile"), str(path)
    if name is None:
        return None, {}, "no profile"
    profiles = deep_merge(file_doc.get("profiles", {}), over.get("profiles", {}))
    table_label = f"{path} [profiles.{name}]"
    own_path = profile_path(path.parent, name)
    own = None if own_path is None else read_config_file(own_path, schema=PROFILE_FILE, notes=notes)
    if own is not None and name in profiles:
        raise ConfigError(
            f"profile '{name}' is defined twice, as [profiles.{name}] in {path} and as {own_path}; keep one"
        )
    if own is not None:
        return name, own, str(own_path)
    if name in profiles:
        return name, dict(profiles[name]), table_label
    files = sorted(p.name.removesuffix(PROFILE_SUFFIX) for p in path.parent.glob(f"*{PROFILE_SUFFIX}"))
    names = sorted({*profiles, *files})
    where = f"add [profiles.{name}] to {path} or create {own_path or path.parent / ('NAME' + PROFILE_SUFFIX)}"
    known = ", ".join(names) if names else f"none; {where}"
    if source == "-p":
        raise ConfigError(f"-p: unknown profile '{name}' (known: {known})")
    raise located(source, "profile", f"unknown profile '{name}' (known: {known})")


def _resolve_provider(
    merged: Mapping[str, Any], env: Mapping[str, str], *, layers: Sequence[tuple[str, Mapping[str, Any]]]
) -> ProviderConfig:
    """The ``ProviderConfig`` that ``model_provider`` names: a user table is merged over the built-in
    of the same id, if any (``-c`` tweaks included)."""
    provider_id = merged.get("model_provider", DEFAULT_PROVIDER)
    builtins = builtin_providers(env, openai_base_url=merged.get("openai_base_url"))
    user = merged.get("model_providers", {})
    if provider_id not in builtins and provider_id not in user:
        known = ", ".join(sorted({*builtins, *user}))
        source = next((label for label, doc in layers if "model_provider" in doc), FLAGS_SOURCE)
        raise located(source, "model_provider", f"unknown provider '{provider_id}' (known: {known})")
    # A file's table with its own endpoint is the user's provider (a Codex user's [model_providers.local]
    # is any loopback server, not agentrt's llama.cpp defaults); otherwise — and for ``-c`` tweaks of
    # one run — it is merged over the built-in.
    defined = any(
        "base_url" in doc.get("model_providers", {}).get(provider_id, {})
        for label, doc in layers
        if label not in (OVERRIDE_SOURCE, FLAGS_SOURCE)
    )
    base = {} if defined else builtins.get(provider_id, {})
    table = deep_merge(base, user.get(provider_id, {}))
    source = next(
        (label for label, doc in reversed(layers) if provider_id in doc.get("model_providers", {})),
        OVERRIDE_SOURCE,
    )
    return make_provider(provider_id, table, source=source)
