"""Typed model errors. Each one is plain data; the caller decides what to log.

::

    ModelError
    ├── ConnectError            endpoint unreachable (refused, DNS, reset before a response)   retryable
    ├── ModelTimeout            no headers in time, or the stream went idle                    retryable
    ├── TruncatedStream         the stream ended before its terminal event                     retryable
    ├── MalformedResponse       the server sent something that is not the protocol             not retryable
    ├── ReplyTooLarge           the reply passed the client's ``max_reply_chars``              not retryable
    └── HTTPStatusError         any non-2xx status; ``status`` and ``body`` kept
        ├── RateLimited         429, ``retry_after`` seconds when the server said              retryable
        ├── ServerError         5xx                                                            retryable
        ├── AuthError           401, 403                                                       not retryable
        ├── ModelNotFound       404 (unknown model or wrong base URL)                          not retryable
        ├── ContextLengthExceeded  400 whose error code/message says the prompt is too long  not retryable
        └── BadRequest          any other 4xx                                                  not retryable
"""

from __future__ import annotations


class ModelError(Exception):
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectError(ModelError):
    retryable = True


class ModelTimeout(ModelError):
    retryable = True


class TruncatedStream(ModelError):
    retryable = True


class MalformedResponse(ModelError):
    pass


class ReplyTooLarge(ModelError):
    """The reply's text (content, tool-call names and arguments, reasoning) passed the client's cap.

    Not retryable: the same request would most likely get the same reply. ``limit`` is the cap in
    characters."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class HTTPStatusError(ModelError):
    def __init__(self, message: str, status: int, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class RateLimited(HTTPStatusError):
    retryable = True

    def __init__(self, message: str, status: int, body: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, status, body)
        self.retry_after = retry_after


class ServerError(HTTPStatusError):
    retryable = True


class AuthError(HTTPStatusError):
    pass


class ModelNotFound(HTTPStatusError):
    pass


class ContextLengthExceeded(HTTPStatusError):
    pass


class BadRequest(HTTPStatusError):
    pass


_CONTEXT_MARKERS = ("context_length_exceeded", "context length", "maximum context", "too many tokens")


def error_for_status(
    status: int, body: str, *, url: str, retry_after: float | None = None
) -> HTTPStatusError:
    """The typed error for a non-2xx response, its message taken from OpenAI's ``{"error": ...}`` body."""
    detail = _error_detail(body)
    message = f"HTTP {status} from {url}" + (f": {detail}" if detail else "")
    if status == 429:
        return RateLimited(message, status, body, retry_after)
    if status >= 500:
        return ServerError(message, status, body)
    if status in (401, 403):
        return AuthError(message, status, body)
    if status == 404:
        if url.rstrip("/").endswith(
            "/responses"
        ):  # a Chat-Completions-only server, reached on the default wire
            message += '; if this server speaks only Chat Completions, set wire_api = "chat" for its provider'
        return ModelNotFound(message, status, body)
    if status in (400, 413, 422) and any(m in body.lower() for m in _CONTEXT_MARKERS):
        return ContextLengthExceeded(message, status, body)
    return BadRequest(message, status, body)


def _error_detail(body: str) -> str:
    import json

    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return body.strip()[:200]
    if isinstance(err, dict):
        return str(err.get("message") or err.get("code") or "")[:300]
    return str(err or "")[:300]
