"""Which endpoint and model to talk to, from flags and the environment (read, never written)."""

from __future__ import annotations

from collections.abc import Mapping

from agentrt.model.chat import Endpoint


def resolve_endpoint(
    base_url: str | None, model: str | None, env: Mapping[str, str], *, api_key: str | None = None
) -> Endpoint | None:
    """Flags first, then ``LLM_BASE_URL``/``LLM_MODEL`` (the benchmark contract's names), then
    ``OPENAI_BASE_URL``/``OPENAI_MODEL``. The key comes from ``LLM_API_KEY`` or ``OPENAI_API_KEY``.

    ``None`` when no base URL is given anywhere: the caller uses the simulator. A base URL without a
    model is an error, named as such.
    """
    url = base_url or env.get("LLM_BASE_URL") or env.get("OPENAI_BASE_URL")
    name = model or env.get("LLM_MODEL") or env.get("OPENAI_MODEL")
    if not url:
        if model:
            raise ValueError(f"--model {model!r} needs an endpoint: pass --base-url or set LLM_BASE_URL")
        return None
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base URL must start with http:// or https://, got {url!r}")
    if not name:
        raise ValueError(f"no model named for {url}: pass --model or set LLM_MODEL")
    key = api_key or env.get("LLM_API_KEY") or env.get("OPENAI_API_KEY")
    return Endpoint(url.rstrip("/"), name, key or None)
