"""The words agentrt says to the model in the HumanEval loop: the task prompt and the retry message."""

from __future__ import annotations

from agentrt.model.types import Message

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

NO_CODE = """Your reply contained no Python code block, so nothing could be tested. \
Reply with the complete module in a single ```python code block."""


def task_messages(spec: str, test: str) -> list[Message]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": TASK.format(spec=_with_newline(spec), test=_with_newline(test))},
    ]


def retry_message(outcome: str, output: str, limit: int) -> Message:
    return {"role": "user", "content": RETRY.format(outcome=outcome, excerpt=excerpt(output, limit))}


def excerpt(text: str, limit: int) -> str:
    """At most ``limit`` characters: a little of the head, most of the tail (where pytest sums up)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters omitted ...]\n{text[-tail:]}"


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
