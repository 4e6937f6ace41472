"""A deterministic, OpenAI-compatible simulated model server that runs in agentrt's own process.

It answers ``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST /v1/responses`` (the OpenAI
Responses API; both streamed or not) on a loopback port,
with replies chosen by a policy (``humaneval`` or ``script``), optional pacing (time to first token,
tokens per second) and injectable faults, so agents and the model client can be tested and benchmarked
without a real model.
"""

from agentrt.model.sim.config import FAULT_MODES, SimConfig
from agentrt.model.sim.policies import failing_ids, load_script
from agentrt.model.sim.server import SimServer, run_sim_server, start_sim_server

__all__ = (
    "FAULT_MODES",
    "SimConfig",
    "SimServer",
    "failing_ids",
    "load_script",
    "run_sim_server",
    "start_sim_server",
)
