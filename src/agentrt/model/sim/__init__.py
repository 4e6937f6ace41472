"""A deterministic, OpenAI-compatible simulated model server that runs in agentrt's own process.

It answers ``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST /v1/responses`` (the OpenAI
Responses API; both streamed or not) on a loopback port, with replies chosen by a policy
(``humaneval``, ``coding-agent`` or ``script``), optional pacing (time to first token, tokens per
second) and injectable faults, so agents and the model client can be tested and benchmarked without
a real model. Names load on first use: the CLI reads ``FAULT_MODES`` without starting anything.
"""

from typing import TYPE_CHECKING

from agentrt.lazy import lazy_names

if TYPE_CHECKING:
    from agentrt.model.sim.config import FAULT_MODES, SimConfig
    from agentrt.model.sim.policies import failing_ids, load_script
    from agentrt.model.sim.server import SimServer, run_sim_server, start_sim_server

_WHERE = {
    "FAULT_MODES": "agentrt.model.sim.config",
    "SimConfig": "agentrt.model.sim.config",
    "failing_ids": "agentrt.model.sim.policies",
    "load_script": "agentrt.model.sim.policies",
    "SimServer": "agentrt.model.sim.server",
    "run_sim_server": "agentrt.model.sim.server",
    "start_sim_server": "agentrt.model.sim.server",
}


__getattr__ = lazy_names(__name__, _WHERE)


__all__ = (
    "FAULT_MODES",
    "SimConfig",
    "SimServer",
    "failing_ids",
    "load_script",
    "run_sim_server",
    "start_sim_server",
)
