"""Which endpoint and model to talk to (``Endpoint``), how long to wait for it (``Timeouts``), how much
of a reply to accept (``MAX_REPLY_CHARS``), and ``resolve_endpoint``, which reads them from flags and
the environment (read, never written)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agentrt.interfaces import WIRE_APIS

_CLIENT_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
"""Headers the HTTP client writes itself, from the URL and the body; a configured one would break framing."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    model: str
    api_key: str | None = None
    simulated: bool = False
    """True when the endpoint is agentrt's own simulator; every report says so."""
    wire_api: str = "chat"
    """``"chat"``: ``POST {base}/chat/completions``; ``"responses"``: ``POST {base}/responses``."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra HTTP headers sent with every request (a provider's ``http_headers``/``env_http_headers``),
    ``(name, value)`` pairs. They replace the client's own headers of the same name (case-insensitive),
    ``User-Agent`` or even ``Authorization``; without an ``Authorization`` of their own, the one built
    from ``api_key`` is kept."""
    query: str = ""
    """Appended to every request's path (``?api-version=…``: a provider's ``query_params``), or empty."""
    developer_instructions: bool = False
    """Responses wire: leading ``system`` messages travel as ``developer`` message items (as Codex sends
    its base instructions) instead of in ``instructions``."""

    def __post_init__(self) -> None:
        if self.wire_api not in WIRE_APIS:
            raise ValueError(f"unknown wire_api {self.wire_api!r}; expected one of {', '.join(WIRE_APIS)}")
        for name, value in self.headers:
            if not _is_header(name, value):
                raise ValueError(f"not a valid HTTP header: {name!r}")
            if name.lower() in _CLIENT_HEADERS:
                raise ValueError(f"HTTP header {name!r} cannot be configured: the client sets it")


def _is_header(name: str, value: str) -> bool:
    """A token for a name; a value without line breaks that HTTP/1.1 can carry (Latin-1)."""
    if not name or not name.isascii() or any(c in name for c in ':\r\n \t"(),/;<=>?@[\\]{}'):
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return "\r" not in value and "\n" not in value


MAX_REPLY_CHARS = 4 * 1024 * 1024
"""Default cap on one reply's text (content, tool-call names and arguments, reasoning), in characters:
past it the client raises ``ReplyTooLarge``. A provider's ``max_reply_chars`` sets another.

Why 4 Mi: the largest reply a model can be asked for today is about 128K output tokens, some 0.5 MiB
of text at the usual ~4 characters per token; 4 Mi characters is eight times that (room for token-dense
text such as minified code or base64), so no real reply meets the cap, while a runaway one (a local
model that repeats itself, a misbehaving server) stops there. The client holds a reply at about two
times its size while it streams (``wire.TextParts``), so the cap bounds a reply's cost to ~10–20 MiB.
"""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float = 10.0
    headers_s: float = 300.0
    """From sending the request to the response headers."""
    idle_s: float = 120.0
    """Longest gap between two SSE data events (keep-alive comments do not count).

    Each attempt has these deadlines of its own; a call retries past them within ``RetryPolicy``'s
    budget. ``build_client`` sets both to a provider's ``stream_idle_timeout_ms`` (300 s, as Codex)."""


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
