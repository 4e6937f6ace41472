"""Model providers: the built-in ``openai`` and ``local`` entries, user entries, and API keys.

A config file may not redefine ``openai`` (Codex 0.169 refuses it too: "Built-in providers cannot
be overridden"). It may define ``[model_providers.local]``, as Codex users do for a server on
loopback: that table is merged over agentrt's built-in ``local`` entry, key by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentrt.config.errors import ConfigError, located

OPENAI_BASE_URL = "https://api.openai.com/v1"
LOCAL_BASE_URL = "http://127.0.0.1:8080/v1"
BUILTIN_IDS = ("local", "openai")
RESERVED_IDS = ("openai",)
"""Built-in providers a config file may not redefine (``-c`` may still adjust them for one run)."""


@dataclass(frozen=True)
class ProviderConfig:
    """Where and how agentrt talks to one model endpoint."""

    id: str
    name: str
    base_url: str
    env_key: str | None = None
    wire_api: str = "chat"
    text_tools: bool = False
    request_max_retries: int = 4
    """Retries of a request that failed before its reply began to stream (429, 5xx, no connection)."""
    stream_max_retries: int = 5
    """Retries of a reply whose stream broke after it began (cut off, disconnected, idle), as Codex."""
    stream_idle_timeout_ms: int = 300_000
    max_reply_chars: int = 4 * 1024 * 1024
    """Most characters of text (content, tool-call arguments, reasoning) one reply may have; the model
    client fails the request past it (``agentrt.model.endpoint.MAX_REPLY_CHARS`` says why 4 Mi)."""
    connect_timeout_ms: int = 10_000
    http_headers: dict[str, str] = field(default_factory=dict)
    """Headers sent with every request."""
    env_http_headers: dict[str, str] = field(default_factory=dict)
    """Header name → environment variable: sent with the variable's value when it is set and not empty."""
    requires_api_key: bool = True
    temperature: float | None = None
    """Sampling temperature sent with each request; ``None`` leaves it to the server."""
    max_output_tokens: int | None = None
    """Cap on the tokens of one reply; ``None`` leaves it to the server."""
    base_prompt: str = "full"
    """The agent's base system prompt for this provider's models: ``full`` or ``compact``."""
    query_params: dict[str, str] = field(default_factory=dict)
    """Appended to every request URL (``?api-version=…`` for Azure), as Codex does."""
    env_key_instructions: str | None = None
    """Told to the user when ``env_key`` is required and not set."""
    experimental_bearer_token: str | None = None
    """A literal API key (Codex's name); ``env_key`` is the safer way."""


def builtin_providers(
    env: Mapping[str, str], *, openai_base_url: str | None = None
) -> dict[str, dict[str, Any]]:
    """The built-in provider tables, as config dicts.

    openai's base URL: the ``openai_base_url`` config key, else ``$OPENAI_BASE_URL``, else the API's.
    """
    headers = {
        header: env[var]
        for header, var in (
            ("OpenAI-Organization", "OPENAI_ORGANIZATION"),
            ("OpenAI-Project", "OPENAI_PROJECT"),
        )
        if env.get(var)
    }
    return {
        "openai": {
            "name": "OpenAI",
            "base_url": openai_base_url or env.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
            "env_key": "OPENAI_API_KEY",
            "wire_api": "responses",
            "http_headers": headers,
        },
        "local": {
            "name": "local (llama.cpp server on loopback)",
            "base_url": LOCAL_BASE_URL,
            "wire_api": "chat",
            "text_tools": True,
            "requires_api_key": False,
            # llama.cpp's server samples at 0.8 unless told; small local models follow the tool
            # protocol far more reliably when greedy.
            "temperature": 0.0,
            # Greedy decoding can fall into a loop that repeats a block until the context is full.
            "max_output_tokens": 2048,
            # Small local models follow the short prompt; the full guide leads them astray.
            "base_prompt": "compact",
        },
    }


def make_provider(provider_id: str, table: Mapping[str, Any], *, source: str) -> ProviderConfig:
    """Build a ``ProviderConfig`` from a checked ``[model_providers.<id>]`` table."""
    if not table.get("base_url"):
        raise located(source, f"model_providers.{provider_id}", "missing required key 'base_url'")
    values = dict(table)
    values.setdefault("name", provider_id)
    return ProviderConfig(id=provider_id, **values)


def headers_for(provider: ProviderConfig, env: Mapping[str, str]) -> dict[str, str]:
    """The extra headers to send: ``http_headers``, then ``env_http_headers`` whose variable is set."""
    headers = dict(provider.http_headers)
    for header, var in provider.env_http_headers.items():
        value = env.get(var, "").strip()
        if value:
            headers[header] = value
    return headers


def api_key_for(provider: ProviderConfig, env: Mapping[str, str]) -> str | None:
    """The API key from ``env[provider.env_key]``; ``None`` when the provider needs none.

    Raises ``ConfigError`` saying which variable to set when the key is required and missing (with
    the provider's ``env_key_instructions``). An ``experimental_bearer_token`` is the key when set.
    A provider with neither never sends a key.
    """
    if provider.experimental_bearer_token:
        return provider.experimental_bearer_token
    if provider.env_key is None:
        return None
    key = env.get(provider.env_key, "").strip()
    if key:
        return key
    if provider.requires_api_key:
        hint = (
            ""
            if provider.id in BUILTIN_IDS
            else f" (or set model_providers.{provider.id}.requires_api_key = false if the endpoint needs no key)"
        )
        how = f" ({provider.env_key_instructions})" if provider.env_key_instructions else ""
        raise ConfigError(
            f"model provider '{provider.id}' needs an API key: set {provider.env_key} in the environment{how}{hint}"
        )
    return None
