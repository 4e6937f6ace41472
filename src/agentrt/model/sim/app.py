"""Request handling of the simulated server: routing, auth, validation, and the two completion endpoints.

``SimApp.handle`` turns one parsed request into a ``Plan`` (what to send and when); it never touches a
socket, so the connection code stays the only place that does I/O.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from agentrt.model.sim import responses
from agentrt.model.sim.config import FAULT_MODES, SimConfig
from agentrt.model.sim.faults import error_fault, fault_body, fault_stream
from agentrt.model.sim.http import Request, error_object, json_response, response_head
from agentrt.model.sim.policies import Reply, make_policy, prompt_tokens, summary_reply
from agentrt.model.sim.responses import (
    completed_event,
    input_messages,
    output_tokens,
    response_body,
    response_events,
)
from agentrt.model.sim.wire import (
    Pacing,
    Plan,
    ReplyContext,
    completion_body,
    completion_tokens,
    stream_events,
)

_INVALID = "invalid_request_error"

_ROUTES = frozenset({"/models", "/chat/completions", "/responses"})

_STREAM_HEADERS = (
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    ("Transfer-Encoding", "chunked"),
)


class _Rejected(Exception):
    """A completion request answered with an error status instead of a reply."""

    def __init__(self, status: int, message: str, code: str | None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class SimApp:
    """The stateless-per-request core of the server; ``requests`` counts the completion requests served
    (``/chat/completions`` and ``/responses`` alike)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.policy = make_policy(config)
        self.pacing = Pacing(ttft_s=config.ttft_ms / 1000.0, tps=config.tps)
        self.requests = 0
        self._faults = random.Random(config.seed)
        self._auth = None if config.api_key is None else f"Bearer {config.api_key}"
        self._models = {
            "object": "list",
            "data": [{"id": config.model, "object": "model", "owned_by": "agentrt-sim"}],
        }

    def handle(self, req: Request) -> Plan:
        path = req.target.partition("?")[0]
        if path.startswith("/v1/"):
            path = path[3:]
        if path not in _ROUTES:
            return _error(404, f"Unknown URL ({req.method} {req.target})", "unknown_url", req.keep_alive)
        if self._auth is not None and req.headers.get("authorization") != self._auth:
            return _error(401, "Incorrect API key provided (simulated).", "invalid_api_key", req.keep_alive)
        method = "GET" if path == "/models" else "POST"
        if req.method != method:
            err = error_object(f"{req.method} is not allowed here; use {method}", _INVALID, None)
            return Plan(json_response(405, err, req.keep_alive, [("Allow", method)]))
        if path == "/models":
            return Plan(json_response(200, self._models, req.keep_alive))
        try:
            return self._chat(req) if path == "/chat/completions" else self._responses(req)
        except _Rejected as exc:
            return _error(exc.status, exc.message, exc.code, req.keep_alive)

    def _reply(
        self, model: str, messages: list[dict[str, Any]], keep_alive: bool, tools: bool = True
    ) -> _Turn:
        """The policy's reply and the fault that applies to it; ``early`` is an error fault's response."""
        if model != self.config.model:
            msg = f"The model `{model}` does not exist (this simulated server serves `{self.config.model}`)."
            raise _Rejected(404, msg, "model_not_found")
        self._check_window(messages)
        if not tools and self.config.script_step == "requests":
            return _Turn(summary_reply(messages), None, None)
        index, self.requests = self.requests, self.requests + 1
        fault = self.config.fault
        if fault is not None and 0 <= self.config.fault_count <= index:
            fault = None
        if fault is None and self.config.fault_rate and self._faults.random() < self.config.fault_rate:
            fault = self._faults.choice(self.config.fault_mix or sorted(FAULT_MODES))
        reply = self.policy.reply(messages, allow_fault=fault is None)
        mode = fault or reply.fault
        early = None if mode is None else error_fault(mode, self.config, keep_alive)
        return _Turn(reply, mode, early)

    def _check_window(self, messages: list[dict[str, Any]]) -> None:
        window, size = self.config.context_window, prompt_tokens(messages)
        if window and size > window:
            raise _Rejected(
                400,
                f"This model's maximum context length is {window} tokens. However, your messages "
                f"resulted in {size} tokens. Please reduce the length of the messages.",
                "context_length_exceeded",
            )

    def _chat(self, req: Request) -> Plan:
        body = _parse_chat(req.body)
        messages = body["messages"]
        turn = self._reply(body["model"], messages, req.keep_alive, bool(body.get("tools")))
        if turn.early is not None:
            return turn.early
        reply, mode = turn.reply, turn.mode
        options = body.get("stream_options")
        ctx = ReplyContext(
            completion_id="chatcmpl-" + hashlib.blake2b(req.body, digest_size=12).hexdigest(),
            model=self.config.model,
            prompt_tokens=prompt_tokens(messages),
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        )
        if body.get("stream") is True:
            head = response_head(200, _STREAM_HEADERS, req.keep_alive)
            plan = Plan(head, stream_events(ctx, reply, self.pacing), chunked=True)
            return plan if mode is None else fault_stream(mode, plan)
        due = self.pacing.due(max(completion_tokens(reply) - 1, 0))
        return _whole(completion_body(ctx, reply), due, mode, req.keep_alive)

    def _responses(self, req: Request) -> Plan:
        body = _parse_responses(req.body)
        messages = input_messages(body)
        turn = self._reply(body["model"], messages, req.keep_alive, bool(body.get("tools")))
        if turn.early is not None:
            return turn.early
        reply, mode = turn.reply, turn.mode
        ctx = ReplyContext(
            completion_id="resp_" + hashlib.blake2b(req.body, digest_size=12).hexdigest(),
            model=self.config.model,
            prompt_tokens=prompt_tokens(messages),
        )
        if body.get("stream") is True:
            head = response_head(200, _STREAM_HEADERS, req.keep_alive)
            plan = Plan(head, response_events(ctx, reply, self.pacing), chunked=True)
            if mode is None:
                return plan
            malformed = (responses.MALFORMED_EVENT, completed_event(ctx, reply, 0))
            return fault_stream(mode, plan, responses.PREFIX_EVENTS, malformed)
        due = self.pacing.due(max(output_tokens(reply) - 1, 0))
        return _whole(response_body(ctx, reply), due, mode, req.keep_alive)


@dataclass(frozen=True, slots=True)
class _Turn:
    reply: Reply
    mode: str | None
    early: Plan | None


def _whole(data: bytes, due: float, mode: str | None, keep_alive: bool) -> Plan:
    """A non-streamed JSON reply due at offset ``due``, or the ``mode`` fault made of it."""
    if mode is not None:
        return fault_body(mode, data, due, keep_alive)
    head = response_head(
        200, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))], keep_alive
    )
    return Plan(head, iter(((due, data),)))


def _error(status: int, message: str, code: str | None, keep_alive: bool) -> Plan:
    return Plan(json_response(status, error_object(message, _INVALID, code), keep_alive))


def _parse_json(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body, with a string ``model`` and a boolean ``stream`` if any."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Rejected(400, f"The request body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(body, dict):
        raise _Rejected(400, "The request body must be a JSON object.", "invalid_request")
    if not isinstance(body.get("model"), str):
        raise _Rejected(400, "You must provide a model parameter.", "missing_model")
    if not isinstance(body.get("stream", False), bool):
        raise _Rejected(400, "'stream' must be a boolean.", "invalid_request")
    return body


def _parse_chat(raw: bytes) -> dict[str, Any]:
    """The JSON body of a chat request, checked for the fields the simulator reads."""
    body = _parse_json(raw)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise _Rejected(400, "'messages' must be a non-empty list of message objects.", "invalid_messages")
    return body


def _parse_responses(raw: bytes) -> dict[str, Any]:
    """The JSON body of a Responses request, checked for the fields the simulator reads."""
    body = _parse_json(raw)
    items = body.get("input")
    if not (isinstance(items, str) and items) and not (
        isinstance(items, list) and items and all(isinstance(i, dict) for i in items)
    ):
        raise _Rejected(400, "'input' must be a string or a non-empty list of input items.", "invalid_input")
    if not isinstance(body.get("instructions") or "", str):
        raise _Rejected(400, "'instructions' must be a string.", "invalid_request")
    return body
