"""A local model as the coding agent's model in a benchmark: ``bench tasks --local``, ``bench swe --local``.

The llama.cpp server ``agentrt exec --local`` starts (``model.local.serve_model``), with what that
session gives a small local model: the built-in ``local`` provider's settings (tool calls as text,
greedy sampling, a cap on one reply, the compact base prompt) and the server's own context window as
the agent's window. One server and one client serve every agent of the run; llama.cpp answers one
request at a time, so a stream may wait out the queue (the idle timeout allows for it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from agentrt.agent.context import ContextPolicy
from agentrt.agent.instructions import base_instructions
from agentrt.interfaces import Model

if TYPE_CHECKING:
    from agentrt.config.providers import ProviderConfig
    from agentrt.model.client import OpenAIClient
    from agentrt.model.factory import RequestSettings
    from agentrt.model.local import LocalServer

QUEUE_WAIT_MS = 1_800_000
"""How long a stream may sit silent while other agents' replies are generated."""


@dataclass(frozen=True)
class LocalAgentModel:
    """The running server and what an agent of the run needs from it."""

    name: str
    threads: int
    server: LocalServer
    client: OpenAIClient
    settings: RequestSettings
    base_prompt: str

    @property
    def context(self) -> ContextPolicy:
        from agentrt.model.local import LOCAL_CONTEXT

        return ContextPolicy(window=LOCAL_CONTEXT)

    @property
    def label(self) -> str:
        return f"local model {self.name} (llama.cpp server started for this run, {self.threads} threads)"

    def model(self) -> Model:
        """An agent's model: the shared client behind the text tool protocol."""
        from agentrt.model.factory import agent_model

        return agent_model(self.client, self.settings)

    def meta(self) -> dict[str, object]:
        rss = self.server.peak_rss_mib()
        peak = None if rss is None else round(rss, 1)
        return {"local_model": self.name, "local_threads": self.threads, "server_peak_rss_mib": peak}


def local_provider(env: Mapping[str, str], base_url: str) -> ProviderConfig:
    """The built-in ``local`` provider at ``base_url``, its streams allowed to wait out the queue."""
    from agentrt.config.providers import builtin_providers, make_provider

    table = {**builtin_providers(env)["local"], "base_url": base_url}
    table["stream_idle_timeout_ms"] = QUEUE_WAIT_MS
    return make_provider("local", table, source="--local")


@asynccontextmanager
async def local_agent_model(
    home: Path, name: str, env: Mapping[str, str], *, stderr: TextIO, threads: int = 2
) -> AsyncIterator[LocalAgentModel]:
    """Start ``name``'s server (installing the model if needed), yield it ready, stop it on the way out."""
    from agentrt.model.factory import RequestSettings, build_client
    from agentrt.model.local import LOCAL_CONTEXT, serve_model
    from agentrt.model.models import get_model

    get_model(name)  # an unknown name fails before anything starts
    async with serve_model(home, name, env, stderr=stderr, n_ctx=LOCAL_CONTEXT, n_threads=threads) as server:
        provider = local_provider(env, server.base_url)
        settings = RequestSettings(
            temperature=provider.temperature,
            max_output_tokens=provider.max_output_tokens,
            text_tools=provider.text_tools,
        )
        client = build_client(provider, name, env, settings)
        try:
            yield LocalAgentModel(
                name, threads, server, client, settings, base_instructions(provider.base_prompt)
            )
        finally:
            await client.aclose()
