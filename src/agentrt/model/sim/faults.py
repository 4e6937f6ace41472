"""Fault injection: turning a normal response plan into one of the failure modes a model client must survive.

===============  =======================================================================================
``rate_limit``   429 with ``Retry-After`` and an ``rate_limit_exceeded`` error body
``server_error`` 500 with an error body
``hang``         the request is read and nothing is ever sent
``stall``        headers and the first chunks are sent, then nothing more; the connection stays open
``truncate``     headers and the first chunks, then the chunked body ends properly, with no finish
                 chunk and no ``[DONE]`` / ``response.completed`` (non-streamed: half the body, then the
                 connection closes)
``malformed``    the first chunks, an event whose data is not JSON, then ``[DONE]`` (Responses wire:
                 ``response.completed``); non-streamed: a 200 whose body is not JSON
``disconnect``   headers and the first chunks, then the connection closes mid-body
===============  =======================================================================================
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from types import MappingProxyType

from agentrt.model.sim.config import SimConfig
from agentrt.model.sim.http import error_object, json_response, response_head
from agentrt.model.sim.wire import DONE, Event, Plan

PREFIX_EVENTS = 3
"""Events sent before a stream fault strikes: the role chunk and two content chunks."""

MALFORMED_EVENT = b'data: {"choices": [\n\n'

_STREAM_ENDINGS = MappingProxyType(
    {"stall": "stall", "truncate": "done", "disconnect": "close", "malformed": "done"}
)


def error_fault(mode: str, config: SimConfig, keep_alive: bool) -> Plan | None:
    """The complete error response of an error fault, or ``None`` when ``mode`` is not one."""
    if mode == "rate_limit":
        body = error_object("Rate limit reached (simulated).", "requests", "rate_limit_exceeded")
        retry = [("Retry-After", f"{config.retry_after_s:g}")]
        return Plan(json_response(429, body, keep_alive, retry))
    if mode == "server_error":
        body = error_object("The server had an error (simulated).", "server_error", "server_error")
        return Plan(json_response(500, body, keep_alive))
    if mode == "hang":
        return Plan(b"", ending="stall")
    return None


def fault_stream(
    mode: str,
    plan: Plan,
    prefix: int = PREFIX_EVENTS,
    malformed: tuple[bytes, ...] = (MALFORMED_EVENT, DONE),
) -> Plan:
    """``plan`` (a streamed reply) cut short or corrupted as ``mode`` says.

    ``prefix`` events are sent before the fault strikes; ``malformed`` is what follows them in the
    ``malformed`` mode (a corrupt event, then the wire's terminal event).
    """
    events: Iterator[Event] = itertools.islice(plan.events, prefix)
    if mode == "malformed":
        events = itertools.chain(events, ((0.0, data) for data in malformed))
    return Plan(plan.head, events, chunked=True, ending=_STREAM_ENDINGS[mode])


def fault_body(mode: str, body: bytes, due: float, keep_alive: bool) -> Plan:
    """A non-streamed reply ``body`` (due at offset ``due``) cut short or corrupted as ``mode`` says."""
    if mode == "malformed":
        body = b'{"choices": ['
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    head = response_head(200, headers, keep_alive)
    if mode == "malformed":
        return Plan(head, iter(((due, body),)))
    half = body[: len(body) // 2]
    return Plan(head, iter(((due, half),)), ending="stall" if mode == "stall" else "close")
