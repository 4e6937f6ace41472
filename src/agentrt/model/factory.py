"""The one way from provider configuration to a model: endpoint, key, headers, timeouts, retries, the
cap on a reply and the request parameters each wire spells its own way. ``agentrt exec`` and
``agentrt bench`` both come through here.

::

    ProviderConfig + model id + environment + RequestSettings ──build_client──▶ OpenAIClient
    OpenAIClient + text_tools ──agent_model──▶ Model (tools as text for models that need it)
    Config ──model_for──▶ Model (exec)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentrt.config.providers import ProviderConfig, api_key_for, headers_for
from agentrt.interfaces import Model
from agentrt.model.client import OpenAIClient
from agentrt.model.endpoint import Endpoint, Timeouts
from agentrt.model.retry import DEFAULT_BUDGET_S, RetryPolicy

if TYPE_CHECKING:
    from agentrt.config import Config


@dataclass(frozen=True, slots=True)
class RequestSettings:
    """What every request of a run carries, whatever the wire."""

    temperature: float | None = None
    """``None`` leaves sampling to the server."""
    max_output_tokens: int | None = None
    """Cap on one reply's tokens; ``None`` leaves it to the server."""
    output_schema: dict[str, Any] | None = None
    """A JSON Schema the final answer must match (structured output), or ``None``."""
    text_tools: bool = False
    """Tools travel in the message text; the chat wire then stops generation at an invented result."""
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    verbosity: str | None = None
    cache_key: str | None = None
    """``prompt_cache_key`` (Responses wire): the session's id, so its requests share a cache."""
    codex_shape: bool = False
    """Requests shaped as Codex 0.169 shapes them (parity mode): base instructions as developer
    messages, the session id in ``session-id``/``thread-id`` headers and ``client_metadata``."""


def build_client(
    provider: ProviderConfig,
    model: str,
    env: Mapping[str, str],
    settings: RequestSettings = RequestSettings(),
    *,
    simulated: bool = False,
    read_interval_s: float = 0.0,
) -> OpenAIClient:
    """A client for ``model`` at ``provider``; ``ConfigError`` when a required key is missing.
    ``read_interval_s``: see ``OpenAIClient`` (a runtime's choice, not the provider's)."""
    endpoint = Endpoint(
        provider.base_url.rstrip("/"),
        model,
        api_key_for(provider, env),
        simulated=simulated,
        wire_api=provider.wire_api,
        headers=(*_session_headers(settings), *headers_for(provider, env).items()),
        query=_query(provider.query_params),
        developer_instructions=settings.codex_shape,
    )
    idle_s = provider.stream_idle_timeout_ms / 1000
    # A server that queues requests (llama.cpp runs one at a time) may send no headers for as long as
    # it may go silent mid-stream, so the headers deadline is the idle one; and no longer, so that a
    # hung request is retried as soon as a stalled stream is.
    timeouts = Timeouts(connect_s=provider.connect_timeout_ms / 1000, headers_s=idle_s, idle_s=idle_s)
    # Every attempt may use up its deadlines and still be retried: see ``RetryPolicy`` for the budget.
    retry = RetryPolicy(
        max_retries=provider.request_max_retries,
        stream_max_retries=provider.stream_max_retries,
        budget_s=max(DEFAULT_BUDGET_S, 3 * max(timeouts.headers_s, timeouts.idle_s)),
    )
    client = OpenAIClient(
        endpoint,
        retry=retry,
        timeouts=timeouts,
        params=request_params(settings, provider.wire_api),
        max_reply_chars=provider.max_reply_chars,
        read_interval_s=read_interval_s,
    )
    return client


def _session_headers(settings: RequestSettings) -> tuple[tuple[str, str], ...]:
    """The headers by which Codex names its session to the server (parity mode; a provider's win)."""
    key = settings.cache_key
    if not settings.codex_shape or key is None:
        return ()
    return (("session-id", key), ("thread-id", key), ("originator", "agentrt_exec"))


def _query(params: Mapping[str, str]) -> str:
    """A provider's ``query_params`` as the ``?…`` every request path carries (Codex appends them so)."""
    if not params:
        return ""
    from urllib.parse import urlencode

    return "?" + urlencode(params)


def request_params(settings: RequestSettings, wire_api: str) -> dict[str, Any]:
    """The body parameters for ``settings``, named as ``wire_api`` names them."""
    params: dict[str, Any] = {}
    responses = wire_api == "responses"
    if settings.output_schema is not None:
        fmt = {"name": "output", "schema": settings.output_schema, "strict": True}
        if responses:
            params["text"] = {"format": {"type": "json_schema", **fmt}}
        else:
            params["response_format"] = {"type": "json_schema", "json_schema": fmt}
    if settings.temperature is not None:
        params["temperature"] = settings.temperature
    if settings.max_output_tokens is not None:
        params["max_output_tokens" if responses else "max_tokens"] = settings.max_output_tokens
    if settings.text_tools and not responses:
        from agentrt.model.text_tools import STOP

        params["stop"] = STOP
    params.update(_reasoning_params(settings, responses, params.get("text")))
    return params


def _reasoning_params(settings: RequestSettings, responses: bool, text: object) -> dict[str, Any]:
    """Reasoning, verbosity and cache key as Codex sends them (only what the config asks for)."""
    if not responses:
        plain = {"reasoning_effort": settings.reasoning_effort, "verbosity": settings.verbosity}
        return {k: v for k, v in plain.items() if v is not None}
    params: dict[str, Any] = {}
    reasoning = {"effort": settings.reasoning_effort, "summary": settings.reasoning_summary}
    if any(v is not None for v in reasoning.values()):
        params["reasoning"] = {k: v for k, v in reasoning.items() if v is not None}
        params["include"] = ["reasoning.encrypted_content"]
    if settings.verbosity is not None:
        params["text"] = {**(text if isinstance(text, dict) else {}), "verbosity": settings.verbosity}
    if settings.cache_key is not None:
        params["prompt_cache_key"] = settings.cache_key
        if settings.codex_shape:
            key = settings.cache_key
            params["client_metadata"] = {"session_id": key, "thread_id": key, "x-codex-window-id": f"{key}:0"}
    return params


def agent_model(client: OpenAIClient, settings: RequestSettings) -> Model:
    """``client`` as an agent's model: wrapped in the text tool protocol when the settings say so."""
    if settings.text_tools:
        from agentrt.model.text_tools import TextToolModel

        return TextToolModel(client)
    return client


def settings_for(
    config: Config, output_schema: dict[str, Any] | None = None, cache_key: str | None = None
) -> RequestSettings:
    return RequestSettings(
        temperature=config.temperature,
        max_output_tokens=config.max_output_tokens,
        output_schema=output_schema,
        text_tools=config.use_text_tools,
        reasoning_effort=config.model_reasoning_effort,
        reasoning_summary=config.model_reasoning_summary,
        verbosity=config.model_verbosity,
        cache_key=cache_key,
        codex_shape=config.parity,
    )


def model_for(
    config: Config,
    env: Mapping[str, str],
    *,
    base_url: str | None = None,
    output_schema: dict[str, Any] | None = None,
    cache_key: str | None = None,
) -> Model:
    """The model of a session: the configured provider (``base_url`` replaces its URL); ``cache_key``
    (the session id) keys the server's prompt cache."""
    provider = config.provider
    if base_url:
        from dataclasses import replace

        provider = replace(provider, base_url=base_url)
    settings = settings_for(config, output_schema, cache_key)
    return agent_model(build_client(provider, config.model, env, settings), settings)
