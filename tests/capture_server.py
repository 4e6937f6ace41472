"""A loopback Responses-API server for tests that compare what two clients send: it answers from a
script of replies and keeps every request (path, headers, JSON body) for the test to read.

Each reply is ``{"text": "..."}`` or ``{"calls": [{"name": ..., "arguments": {...}}]}``; the reply
for a request is chosen by how many function-call outputs the request carries, so two clients that
retry or add a warm-up request still walk the script in step. Usage is reported on every response.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {
    "input_tokens": 100,
    "input_tokens_details": {"cached_tokens": 40},
    "output_tokens": 10,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 110,
}


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class CaptureServer:
    script: Sequence[dict[str, Any]]
    requests: list[Captured] = field(default_factory=list)
    url: str = ""
    by_requests: bool = False
    """Reply to the n-th request with the script's n-th step (for clients whose requests carry no calls)."""

    def reply_for(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.by_requests:
            n = len(self.requests)
            return self.script[n - 1] if n <= len(self.script) else {"text": "done"}
        outputs = sum(
            1
            for item in body.get("input", ())
            if item.get("type") == "function_call_output" and str(item.get("call_id", "")).startswith("call_")
        )
        calls_before = 0
        for step in self.script:
            if "calls" not in step:
                if calls_before >= outputs:
                    return step
                continue
            if calls_before >= outputs:
                return step
            calls_before += len(step["calls"])
        return {"text": "done"}


def _events(reply: dict[str, Any], n: int) -> Iterator[dict[str, Any]]:
    rid = f"resp_{n}"
    yield {"type": "response.created", "response": {"id": rid}}
    items: list[dict[str, Any]] = []
    if "text" in reply:
        items.append(
            {
                "type": "message",
                "role": "assistant",
                "id": f"msg_{n}",
                "content": [{"type": "output_text", "text": reply["text"]}],
            }
        )
    for i, call in enumerate(reply.get("calls", ())):
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{n}_{i}",
                "call_id": f"call_{n}_{i}",
                "name": call["name"],
                "arguments": json.dumps(call["arguments"]),
            }
        )
    for index, item in enumerate(items):
        yield {"type": "response.output_item.added", "output_index": index, "item": item}
        yield {"type": "response.output_item.done", "output_index": index, "item": item}
    yield {"type": "response.completed", "response": {"id": rid, "usage": USAGE}}


@contextmanager
def capture_server(script: Sequence[dict[str, Any]], *, by_requests: bool = False) -> Iterator[CaptureServer]:
    """A running server on 127.0.0.1 (``.url`` ends in ``/v1``), stopped on exit."""
    state = CaptureServer(script, by_requests=by_requests)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            with lock:
                state.requests.append(
                    Captured(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                n = len(state.requests)
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for event in _events(state.reply_for(body), n):
                self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
