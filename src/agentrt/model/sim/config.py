"""Configuration of the simulated model server, and validation of the inputs it is built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

POLICIES = frozenset({"humaneval", "script", "coding-agent"})
SCRIPT_STEPS = ("history", "requests")
"""Reply policies the simulator knows."""

FAULT_MODES = frozenset(
    {"rate_limit", "server_error", "hang", "stall", "truncate", "malformed", "disconnect"}
)
"""Fault modes that can be injected into a chat request (see ``agentrt.model.sim.faults``)."""


@dataclass(frozen=True)
class SimConfig:
    """Everything that decides what the simulated server replies; equal configs give equal replies."""

    policy: str = "humaneval"
    """``"humaneval"`` (answer coding tasks from ``tasks``), ``"coding-agent"`` (solve them with tool
    calls, as an agent in a repository would) or ``"script"`` (replay ``script``)."""
    seed: int = 0
    fail_rate: float = 0.15
    """Fraction of humaneval tasks whose first attempt is deliberately wrong."""
    ttft_ms: float = 0.0
    """Delay before the first content token of each reply."""
    tps: float = 0.0
    """Tokens per second per stream; 0 sends as fast as possible."""
    tasks: tuple[dict[str, Any], ...] = ()
    """Humaneval tasks: dicts with ``id``, ``spec``, ``test`` and ``solution``."""
    script: tuple[dict[str, Any], ...] = ()
    """Script replies: ``{"content": str, "tool_calls": [...], "fault": mode, "reasoning": str}`` (keys
    optional; ``reasoning`` is sent on the Responses wire only)."""
    fault: str | None = None
    """Fault mode applied to the first ``fault_count`` chat requests."""
    fault_count: int = 1
    """How many chat requests get ``fault``; -1 means every request."""
    fault_rate: float = 0.0
    """Chance that any completion request gets a fault drawn from ``fault_mix`` (seeded by ``seed``)."""
    fault_mix: tuple[str, ...] = ()
    """The fault modes ``fault_rate`` draws from; empty means every mode."""
    retry_after_s: float = 1.0
    """Value of the ``Retry-After`` header sent with the ``rate_limit`` fault."""
    model: str = "agentrt-sim"
    """The one model id served; any other id is answered with 404 ``model_not_found``."""
    api_key: str | None = None
    """When set, requests must carry ``Authorization: Bearer <api_key>``."""
    context_window: int = 0
    """When set, a request whose prompt is larger (in the simulator's count) is refused with 400
    ``context_length_exceeded``, as a real server does; 0 accepts any size."""
    script_step: str = "history"
    """How the script policy picks its reply: ``"history"`` (step k = the request's number of assistant
    turns, so a replayed conversation gets the same replies) or ``"requests"`` (step k = the k-th
    request that offers tools; one that offers none — a compaction's summary request — is answered
    with a short summary instead, and takes no step)."""


def validate_config(config: SimConfig) -> None:
    """Raise ``ValueError`` naming the first field of ``config`` that the simulator cannot serve."""
    if config.policy not in POLICIES:
        raise ValueError(f"unknown sim policy {config.policy!r}; expected one of {sorted(POLICIES)}")
    if not 0.0 <= config.fail_rate <= 1.0:
        raise ValueError(f"fail_rate must be within [0, 1], got {config.fail_rate}")
    if config.ttft_ms < 0 or config.tps < 0 or config.retry_after_s < 0:
        raise ValueError("ttft_ms, tps and retry_after_s must not be negative")
    if config.fault is not None and config.fault not in FAULT_MODES:
        raise ValueError(f"unknown fault mode {config.fault!r}; expected one of {sorted(FAULT_MODES)}")
    if not 0.0 <= config.fault_rate <= 1.0:
        raise ValueError(f"fault_rate must be within [0, 1], got {config.fault_rate}")
    unknown = sorted(set(config.fault_mix) - FAULT_MODES)
    if unknown:
        raise ValueError(
            f"unknown fault modes in fault_mix: {unknown}; expected some of {sorted(FAULT_MODES)}"
        )
    if config.fault_count < -1:
        raise ValueError(f"fault_count must be -1 (every request) or >= 0, got {config.fault_count}")
    if config.policy == "script" and not config.script:
        raise ValueError("the script policy needs at least one reply in SimConfig.script")
    if config.script_step not in SCRIPT_STEPS:
        raise ValueError(f"script_step must be one of {', '.join(SCRIPT_STEPS)}, got {config.script_step!r}")
    if config.context_window < 0:
        raise ValueError(f"context_window must not be negative, got {config.context_window}")
    if not config.model:
        raise ValueError("model must be a non-empty model id")


def check_loopback(host: str) -> str:
    """Return the address to bind for ``host``; raise ``ValueError`` unless it is a loopback address."""
    if host == "localhost":
        return "127.0.0.1"
    if host == "::1":
        return host
    parts = host.split(".")
    if len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) <= 255 for p in parts):
        return host
    raise ValueError(f"the simulated model server only listens on loopback addresses, not {host!r}")
