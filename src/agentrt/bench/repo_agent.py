"""The coding agent at work in one repository, as a benchmark subject.

One turn of the agent loop (``agent.thread``) with what ``agentrt exec`` gives it: the coding tools
(shell, apply_patch, the file tools), the base prompt, the environment context and the window's
accounting — under a ``workspace-write`` OS sandbox scoped to the repository (``scoped_sandbox``, made
by the caller, who may run its own commands in it afterwards). ``bench swe`` runs it on each
instance's checkout; ``bench humaneval --agent exec`` (``humaneval.coding``) too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentrt.agent.context import Context, ContextPolicy
from agentrt.agent.instructions import environment_context
from agentrt.agent.thread import Limits, Thread, TurnStopped
from agentrt.events import EventSink
from agentrt.interfaces import Model
from agentrt.messages import Message
from agentrt.sandbox import confined_write
from agentrt.sandbox.policy import SandboxPolicy
from agentrt.sandbox.process import Confinement
from agentrt.tools.coding import coding_tools
from agentrt.tools.registry import ToolRegistry

HARD_STOP_GRACE_S = 30.0
"""The turn checks its wall-time limit between steps; one step that overruns it is cut this much later."""


@dataclass(frozen=True, kw_only=True)
class RepoAgent:
    """What every agent of a run shares."""

    mechanism: str
    """The sandbox mechanism proven at the start of the run (``bench.runner.prove_sandbox``)."""
    base_prompt: str
    """The system prompt (``agent.instructions.base_instructions``), read once for all agents."""
    env: Mapping[str, str]
    """The base environment of the agent's commands (``bench.runner.agent_env``)."""
    home: Path
    """``AGENTRT_HOME``, which the sandbox keeps out of the agent's reach."""
    limits: Limits = Limits(max_turns=50, max_wall_s=1800.0)
    context: ContextPolicy = ContextPolicy()


async def run_in_repo(
    model: Model,
    repo: Path,
    instruction: str,
    agent: RepoAgent,
    sink: EventSink,
    sandbox: tuple[Confinement, SandboxPolicy],
) -> TurnStopped | None:
    """Let the agent work on ``instruction`` in ``repo`` under ``sandbox`` (``scoped_sandbox(repo,
    ...)``) until it answers; why it stopped early, if it did (a limit, a model error)."""
    confinement, policy = sandbox
    tools = ToolRegistry(coding_tools(confinement, confined_write(policy), hidden=policy.deny_read))
    thread = Thread(
        model, tools, sink, cwd=repo, limits=agent.limits, history=_history(repo, agent),
        context=Context(agent.context),
    )  # fmt: skip
    limit = agent.limits.max_wall_s
    try:
        async with asyncio.timeout(limit + HARD_STOP_GRACE_S):  # a request or command that overruns
            await thread.run_turn(instruction)
    except TurnStopped as stop:
        return stop
    except TimeoutError:
        return TurnStopped("max_wall_time", f"the agent was stopped after {limit:g}s")
    return None


def _history(repo: Path, agent: RepoAgent) -> list[Message]:
    context = environment_context(repo, approval_policy="never", sandbox_mode="workspace-write", shell="bash")
    return [{"role": "system", "content": agent.base_prompt}, {"role": "user", "content": context}]
