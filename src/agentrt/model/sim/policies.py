"""Reply policies of the simulated model: what the assistant says, decided only by the request and config.

All policies are stateless with respect to conversations: the reply depends on the messages of the
request alone (the number of assistant turns so far picks the attempt or script step), so replaying a
conversation replays its replies byte for byte.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from agentrt.messages import message_text
from agentrt.model.sim.config import FAULT_MODES, SimConfig

_TOKEN_RE = re.compile(r"\s*\S+|\s+")

WRONG_BODY = '    raise ValueError("simulated wrong first attempt")\n'
"""Function body of a deliberately wrong first attempt: the task's tests fail on it."""


def tokens(text: str) -> Iterator[str]:
    """Split ``text`` into simulated tokens (a word with its leading space); they join back to ``text``."""
    for match in _TOKEN_RE.finditer(text):
        yield match.group()


@dataclass(frozen=True, slots=True)
class ToolCallSpec:
    name: str
    arguments: str
    """Raw JSON text of the arguments, streamed in token-sized pieces."""
    id: str | None = None
    """Tool call id; ``None`` lets the server derive a deterministic one."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One assistant turn the server will send: text, tool calls, and optionally a fault instead."""

    content: str = ""
    tool_calls: tuple[ToolCallSpec, ...] = ()
    fault: str | None = None
    fault_count: int = 1
    """Script steps only: how many requests for this step get ``fault`` (-1 = every one)."""
    reasoning: str = ""
    """A reasoning summary sent before the reply (Responses wire only; the chat wire ignores it)."""


class Policy(Protocol):
    def reply(self, messages: Sequence[dict[str, Any]], allow_fault: bool = True) -> Reply:
        """The reply to a request with ``messages``; ``allow_fault=False`` leaves step faults unspent."""
        ...


def summary_reply(messages: Sequence[dict[str, Any]]) -> Reply:
    """The answer to a request that offers no tools under ``script_step="requests"``: a short summary."""
    calls = sum(len(m.get("tool_calls") or ()) for m in messages)
    users = sum(1 for m in messages if m.get("role") == "user")
    return Reply(
        content=f"Summary (simulated): {len(messages)} messages so far, {users} from the user, "
        f"{calls} tool calls. The task goes on where the newest messages leave it."
    )


def prompt_tokens(messages: Sequence[dict[str, Any]]) -> int:
    """Deterministic prompt size estimate: characters of all message contents // 4 + 1."""
    return sum(len(message_text(m.get("content"))) for m in messages) // 4 + 1


_FAILED = "Your solution failed its tests"
"""How the contract loop's feedback begins (``bench.humaneval.prompt``): a task message that carries it
shows an earlier attempt (``--retry-context fresh``), which the simulator then answers as a retry."""


def assistant_turns(messages: Sequence[dict[str, Any]]) -> int:
    return sum(1 for m in messages if m.get("role") == "assistant")


def _parse_tool_call(item: object, where: str) -> ToolCallSpec:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: a tool call must be an object with 'name' and 'arguments'")
    fields = item["function"] if isinstance(item.get("function"), dict) else item
    name, args, call_id = fields.get("name"), fields.get("arguments", "{}"), item.get("id")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a tool call needs a non-empty string 'name'")
    if isinstance(args, dict):
        args = json.dumps(args)
    if not isinstance(args, str):
        raise ValueError(f"{where}: tool call 'arguments' must be a JSON string or an object")
    if call_id is not None and not isinstance(call_id, str):
        raise ValueError(f"{where}: tool call 'id' must be a string")
    return ToolCallSpec(name=name, arguments=args, id=call_id)


def parse_reply(item: object, where: str = "reply") -> Reply:
    """Validate one script reply (a string or an object) and return it as a ``Reply``."""
    if isinstance(item, str):
        return Reply(content=item)
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a string or an object, got {type(item).__name__}")
    unknown = set(item) - {"content", "tool_calls", "fault", "fault_count", "role", "reasoning"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    content = item.get("content") or ""
    calls = item.get("tool_calls") or []
    fault, fault_count = item.get("fault"), item.get("fault_count", 1)
    reasoning = item.get("reasoning") or ""
    if not isinstance(content, str):
        raise ValueError(f"{where}: 'content' must be a string")
    if not isinstance(reasoning, str):
        raise ValueError(f"{where}: 'reasoning' must be a string")
    if not isinstance(calls, list):
        raise ValueError(f"{where}: 'tool_calls' must be a list")
    if fault is not None and fault not in FAULT_MODES:
        raise ValueError(f"{where}: unknown fault {fault!r}; expected one of {sorted(FAULT_MODES)}")
    if not isinstance(fault_count, int) or fault_count < -1:
        raise ValueError(f"{where}: 'fault_count' must be an integer >= -1")
    parsed = tuple(_parse_tool_call(c, f"{where}: tool call {i}") for i, c in enumerate(calls))
    return Reply(
        content=content, tool_calls=parsed, fault=fault, fault_count=fault_count, reasoning=reasoning
    )


def load_script(path: str | Path) -> tuple[dict[str, Any], ...]:
    """Read a script-policy reply list from a JSON file; ``ValueError`` says what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a non-empty JSON list of replies")
    for i, item in enumerate(data):
        parse_reply(item, f"{path}: reply {i}")
    return tuple({"content": item} if isinstance(item, str) else item for item in data)


def _task_fields(task: object, i: int) -> tuple[str, str, str]:
    """``(id, spec, solution)`` of a humaneval task; HumanEval's own key names are accepted too."""
    if not isinstance(task, dict):
        raise ValueError(f"task {i}: expected an object")
    tid = task.get("id", task.get("task_id"))
    spec = task.get("spec", task.get("prompt"))
    solution = task.get("solution", task.get("canonical_solution"))
    if not (isinstance(tid, str) and isinstance(spec, str) and spec and isinstance(solution, str)):
        raise ValueError(f"task {i}: needs string 'id', non-empty 'spec' and 'solution'")
    return tid, spec, solution


def failing_ids(config: SimConfig) -> frozenset[str]:
    """Ids of the humaneval tasks whose first attempt is wrong: ``round(fail_rate * n)`` of them, by seed."""
    ids = sorted(_task_fields(t, i)[0] for i, t in enumerate(config.tasks))
    k = min(len(ids), max(0, round(config.fail_rate * len(ids))))
    return frozenset(random.Random(config.seed).sample(ids, k))


TaskFields = tuple[str, str, str]
"""``(id, spec, solution)`` of one humaneval task."""


def keyed_tasks(config: SimConfig) -> list[tuple[str, TaskFields]]:
    """The tasks keyed by their stripped spec, longest first; ``ValueError`` on bad or repeated ids.

    Specs are matched without surrounding whitespace (prompts are often stripped), longest first so
    that a spec containing another one wins.
    """
    fields = [_task_fields(t, i) for i, t in enumerate(config.tasks)]
    if len({f[0] for f in fields}) != len(fields):
        raise ValueError("humaneval task ids must be unique")
    keyed = [(spec.strip(), (tid, spec, solution)) for tid, spec, solution in fields]
    return sorted(keyed, key=lambda k: len(k[0]), reverse=True)


def find_task(tasks: Sequence[tuple[str, TaskFields]], text: str) -> TaskFields | None:
    """The task whose stripped spec occurs in ``text`` (the longest such), if any."""
    return next((fields for key, fields in tasks if key in text), None)


class HumanEvalPolicy:
    """Answers a coding task found by its spec in the first user message with a fenced Python module."""

    def __init__(self, config: SimConfig) -> None:
        self._tasks = keyed_tasks(config)
        self._failing = failing_ids(config)

    def reply(self, messages: Sequence[dict[str, Any]], allow_fault: bool = True) -> Reply:
        first_user = next((m for m in messages if m.get("role") == "user"), None)
        text = message_text(first_user.get("content")) if first_user else ""
        task = find_task(self._tasks, text)
        if task is None:
            return Reply(content="I do not know this task, so I cannot write a solution for it.")
        tid, spec, solution = task
        attempt = 1 + assistant_turns(messages)
        if attempt == 1 and _FAILED in text:  # a fresh conversation that shows an earlier, failed answer
            attempt = 2
        if attempt == 1 and tid in self._failing:
            body, intro = WRONG_BODY, f"Here is my implementation for {tid}."
        elif attempt == 1:
            body, intro = solution, f"Here is my implementation for {tid}."
        else:
            body, intro = solution, f"Here is a corrected implementation for {tid} (attempt {attempt})."
        return Reply(content=f"{intro}\n\n```python\n{spec}{body}\n```\n")


class ScriptPolicy:
    """Replays scripted replies: step k is the request's number of assistant turns (or, with
    ``script_step="requests"``, the k-th request); past the end, the last."""

    def __init__(self, config: SimConfig) -> None:
        self._replies = tuple(parse_reply(r, f"script reply {i}") for i, r in enumerate(config.script))
        if not self._replies:
            raise ValueError("the script policy needs at least one reply")
        # Per-server budget of step faults, so a retried step eventually succeeds.
        self._faults_left = [r.fault_count for r in self._replies]
        self._by_requests = config.script_step == "requests"
        self._served = 0

    def reply(self, messages: Sequence[dict[str, Any]], allow_fault: bool = True) -> Reply:
        taken = self._served if self._by_requests else assistant_turns(messages)
        self._served += 1
        step = min(taken, len(self._replies) - 1)
        reply = self._replies[step]
        if reply.fault is None:
            return reply
        if not allow_fault or self._faults_left[step] == 0:
            return replace(reply, fault=None)
        if self._faults_left[step] > 0:
            self._faults_left[step] -= 1
        return reply


SOLUTION_FILE = "solution.py"
TEST_COMMAND = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
"""The coding agent's test run; ``-p no:cacheprovider`` keeps ``.pytest_cache`` out of the repository."""


def tool_output(message: dict[str, Any]) -> str:
    """The text a tool result carries: the ``output`` of a JSON ``{"output", "metadata"}`` object (the
    shell tool's shape), else the raw content."""
    text = message_text(message.get("content"))
    try:
        decoded = json.loads(text)
    except ValueError:
        return text
    output = decoded.get("output") if isinstance(decoded, dict) else None
    return output if isinstance(output, str) else text


def last_exit_code(messages: Sequence[dict[str, Any]]) -> int | None:
    """``metadata.exit_code`` of the last tool result, when it is a shell result that carries one."""
    results = [m for m in messages if m.get("role") == "tool"]
    if not results:
        return None
    try:
        code = json.loads(message_text(results[-1].get("content")))["metadata"]["exit_code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, int) else None


def _call(name: str, arguments: dict[str, Any]) -> ToolCallSpec:
    return ToolCallSpec(name=name, arguments=json.dumps(arguments))


def _shell(content: str, *argv: str) -> Reply:
    return Reply(content=content, tool_calls=(_call("shell", {"command": list(argv)}),))


def _patch(content: str, lines: Sequence[str]) -> Reply:
    """An ``apply_patch`` call with one update chunk of ``lines`` (each already marked ' ', '-' or '+')."""
    body = "\n".join(("*** Begin Patch", f"*** Update File: {SOLUTION_FILE}", "@@", *lines, "*** End Patch"))
    return Reply(content=content, tool_calls=(_call("apply_patch", {"input": body + "\n"}),))


def _added(body: str) -> list[str]:
    return ["+" + line for line in body.splitlines()]


def _fix_lines(spec: str, solution: str) -> list[str]:
    """Replace the wrong body line with ``solution``, anchored on the spec's last line as context.

    ``WRONG_BODY`` occurs once in the file already; the context line makes the chunk read like a
    real agent's edit and pins it right after the stub.
    """
    context = spec.splitlines()[-1] if spec.strip() else ""
    return [" " + context, "-" + WRONG_BODY.rstrip("\n"), *_added(solution)]


class CodingAgentPolicy:
    """Plays a coding agent with ``shell`` and ``apply_patch`` on a humaneval task in a repository
    that holds the task's stub as ``solution.py`` and its tests.

    The task is found by its spec in the tool results (step 0 reads the stub); then a fixed sequence
    follows, decided by the step (the number of assistant turns) and whether the task is in the seeded
    failing share, so a replayed conversation replays its replies:

    * passing task: ``cat`` stub, append the canonical body, run the tests, final answer;
    * failing task: ``cat`` stub, append ``WRONG_BODY``, run the tests, replace the wrong line with
      the canonical body, run the tests again, final answer.
    """

    def __init__(self, config: SimConfig) -> None:
        self._tasks = keyed_tasks(config)
        self._failing = failing_ids(config)

    def reply(self, messages: Sequence[dict[str, Any]], allow_fault: bool = True) -> Reply:
        step = assistant_turns(messages)
        if step == 0:
            return _shell("Reading the stub.", "cat", SOLUTION_FILE)
        outputs = "\n".join(tool_output(m) for m in messages if m.get("role") == "tool")
        task = find_task(self._tasks, outputs)
        if task is None:
            return Reply(content="I could not identify the task.")
        plan = self.plan(task)
        if step < len(plan):
            return plan[step]
        return _final_answer(task[0], last_exit_code(messages))

    def plan(self, task: TaskFields) -> list[Reply]:
        """The tool-calling replies for ``task``, by step; every later step is the final answer."""
        tid, spec, solution = task
        read = _shell("Reading the stub.", "cat", SOLUTION_FILE)
        test = _shell("Running the tests.", *TEST_COMMAND)
        if tid not in self._failing:
            return [read, _patch(f"Implementing {tid}.", _added(solution)), test]
        wrong = _patch(f"Implementing {tid}.", _added(WRONG_BODY))
        fix = _patch("The tests fail; replacing the body.", _fix_lines(spec, solution))
        return [read, wrong, test, fix, _shell("Running the tests again.", *TEST_COMMAND)]


def _final_answer(tid: str, exit_code: int | None) -> Reply:
    """The closing message; it reports a failing last test run (the agent harness may have changed the
    repository), and otherwise claims success, which the canonical body earns."""
    if exit_code is None or exit_code == 0:
        return Reply(content=f"Implemented {tid}; the tests pass.")
    return Reply(content=f"Implemented {tid}, but the last test run exited with code {exit_code}.")


def make_policy(config: SimConfig) -> Policy:
    if config.policy == "script":
        return ScriptPolicy(config)
    if config.policy == "coding-agent":
        return CodingAgentPolicy(config)
    return HumanEvalPolicy(config)
