"""The words agentrt says to the model on HumanEval tasks: the contract loop's prompt and retry message."""

from __future__ import annotations

from agentrt.truncation import head_tail

SYSTEM = (
    "You are an expert Python programmer. You write correct, complete Python modules. "
    "Answer with the whole module in a single ```python code block."
)

TASK = """Complete the following Python module so that its tests pass.

```python
{spec}```

The tests are run with pytest from a file that does `from solution import *`:

```python
{test}```

Reply with the complete module — the given imports and helper functions included, \
the function implemented — in a single ```python code block."""

RETRY = """Your solution failed its tests ({outcome}). pytest output:

```
{excerpt}
```

Fix the solution. Reply with the complete corrected module in a single ```python code block."""

RETRY_DIGEST = """Your solution failed its tests ({outcome}).

{digest}

Fix the solution. Reply with the complete corrected module in a single ```python code block."""

REASON_FIRST = (
    "Before the code, say in one or two sentences why the test failed and what must change; "
    "then reply with the complete corrected module in a single ```python code block."
)
"""Replaces the retry message's last line when a retry is asked to reason first (``--retry-reason``)."""

PREVIOUS_ATTEMPT = """

An earlier answer to this task was:

```python
{code}```

{feedback}"""
"""Appended to the task's message when a retry starts a fresh conversation (``--retry-context fresh``)."""

NO_CODE = """Your reply contained no Python code block, so nothing could be tested. \
Reply with the complete module in a single ```python code block."""


def task_prompt(spec: str, test: str) -> str:
    """The user message that states the task (the system message is ``SYSTEM``)."""
    return TASK.format(spec=_with_newline(spec), test=_with_newline(test))


def retry_message(
    outcome: str, output: str, limit: int, *, digest: str | None = None, reason: bool = False
) -> str:
    """The message after a failed test run: pytest's output trimmed to ``limit`` characters, or, given a
    ``digest`` (``failure.describe``), that instead; ``reason`` asks for the cause before the code."""
    if digest is not None:
        text = RETRY_DIGEST.format(outcome=outcome, digest=excerpt(digest, limit))
    else:
        text = RETRY.format(outcome=outcome, excerpt=excerpt(output, limit))
    if reason:
        head, _, _ = text.rpartition("\n\n")
        text = f"{head}\n\n{REASON_FIRST}"
    return text


def previous_attempt(code: str, feedback: str) -> str:
    """What a fresh conversation's task message gains: the earlier answer's code and what went wrong."""
    return PREVIOUS_ATTEMPT.format(code=_with_newline(code), feedback=feedback)


def excerpt(text: str, limit: int) -> str:
    """At most ``limit`` characters: a quarter from the head, the rest from the tail (where pytest sums up)."""
    return head_tail(text.strip(), limit, unit="characters", head_share=0.25)


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
