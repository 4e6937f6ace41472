"""Code extraction from replies and assembly of the whole solution module."""

from __future__ import annotations

import ast

from hypothesis import given
from hypothesis import strategies as st

from agentrt.bench.humaneval.extract import (
    assemble_module,
    drop_example_usage,
    extract_code,
    solution_module,
    spec_parts,
)


def test_python_block_preferred_over_others() -> None:
    reply = (
        "Here:\n```\nplain\n```\n```python\ndef f():\n    return 1\n```\n```bash\nls -la and more text\n```"
    )
    assert extract_code(reply) == "def f():\n    return 1\n"


def test_longest_python_block_wins() -> None:
    reply = "```py\nx = 1\n```\ntext\n```python\ndef g(a):\n    return a * 2\n```\n"
    assert extract_code(reply) == "def g(a):\n    return a * 2\n"


def test_unlabelled_block_and_tilde_fence() -> None:
    assert extract_code("~~~\nx = 2\n~~~") == "x = 2\n"
    assert extract_code("```\ny = 3\n```") == "y = 3\n"


def test_unclosed_fence_runs_to_end() -> None:
    assert extract_code("sure\n```python\ndef h():\n    pass") == "def h():\n    pass\n"


def test_no_fence_falls_back_to_whole_reply_only_if_python() -> None:
    assert extract_code("def k():\n    return 5") == "def k():\n    return 5\n"
    assert extract_code("I cannot do that, sorry.") is None
    assert extract_code("") is None


def test_longer_fence_contains_shorter_one() -> None:
    reply = "````python\nprint('```')\n````"
    assert extract_code(reply) == "print('```')\n"


SPEC = '''import math


def poly(xs: list, x: float):
    """Evaluate."""
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))


def find_zero(xs: list):
    """Find a zero."""
'''


def test_missing_prompt_helpers_are_prepended() -> None:
    code = "def find_zero(xs):\n    return 0.0\n"
    module = assemble_module(SPEC, code)
    names = {n.name for n in ast.parse(module).body if isinstance(n, ast.FunctionDef)}
    assert names == {"poly", "find_zero"}
    assert "import math" in module
    ns: dict[str, object] = {}
    exec(compile(module, "solution.py", "exec"), ns)
    assert callable(ns["poly"])


def test_whole_module_is_left_alone() -> None:
    code = SPEC + "    return 0.0\n"
    assert assemble_module(SPEC, code) == code


def test_unparsable_code_is_written_as_is() -> None:
    assert assemble_module(SPEC, "def broken(:\n") == "def broken(:\n"


@given(st.text(max_size=400))
def test_extract_never_crashes_and_returns_text_from_the_reply(reply: str) -> None:
    code = extract_code(reply)
    if code is not None:
        assert code.rstrip("\n") in reply or code.strip() in reply


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_fenced_code_round_trips(body: str) -> None:
    body = body.replace("`", "").replace("~", "")
    reply = f"Some words.\n```python\n{body}\n```\nMore words."
    code = extract_code(reply)
    assert code is not None
    assert code.rstrip("\n") == body.rstrip("\n") or (code == "\n" and body.strip("\n") == "")


def test_example_usage_is_dropped_and_the_solution_kept() -> None:
    # Seen from Qwen2.5-Coder-1.5B at temperature 0, on every retry: a correct function followed by a
    # call to a `check` it never defined, which failed the module at import.
    code = '''"""Module doc."""
import math

LIMIT = 10


def f(x):
    """Square root, floored."""
    return int(math.sqrt(x))


def check(candidate):
    assert candidate(9) == 3


def test_f():
    assert f(16) == 4


# Test the function
check(f)
print(f(4))
assert f(1) == 1
if __name__ == "__main__":
    print("ok")
'''
    kept = drop_example_usage(code)
    tree = ast.parse(kept)
    assert [type(n).__name__ for n in tree.body] == ["Expr", "Import", "Assign", "FunctionDef", "FunctionDef"]
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["f", "check"]
    assert (
        kept.startswith('"""Module doc."""\nimport math') and "print" not in kept and "__main__" not in kept
    )
    namespace: dict[str, object] = {}
    exec(compile(kept, "solution.py", "exec"), namespace)  # imports cleanly now
    assert namespace["f"](16) == 4  # type: ignore[operator]


def test_code_without_example_usage_or_that_does_not_parse_is_unchanged() -> None:
    clean = "def f(x):\n    return x\n"
    assert drop_example_usage(clean) is clean
    broken = "def f(:\n    check(f)\n"
    assert drop_example_usage(broken) == broken
    decorated = (
        "import functools\n\n\n@functools.cache\ndef test_g():\n    return 1\n\n\ndef g():\n    return 2\n"
    )
    assert drop_example_usage(decorated) == "import functools\n\n\ndef g():\n    return 2\n"


SNIPPETS = [
    "def add(a, b):\n    return a + b\n",
    "def helper(x):\n    return x\n",
    "import math\n",
    "from itertools import chain as ch\n",
    "K = 3\n",
    "print(add(1, 2))\n",
    "assert add(1, 2) == 3\n",
    "check(add)\n",
    '"""a module docstring"""\n',
    'if __name__ == "__main__":\n    print(1)\n',
    "def test_add():\n    assert add(1, 1) == 2\n",
    "@decorate\ndef wrapped():\n    pass\n",
    "class Box:\n    pass\n",
    "x = 1; assert x\n",
    "def broken(:\n",
    "\n\n\n\n",
]
SPECS = [
    SPEC,
    "import math\n\n\ndef poly(xs, x):\n    return sum(xs)\n\n\ndef add(a, b):\n    pass\n",
    "def add(a, b):\n    '''Add.'''\n",
    "def broken(:\n",
]


@given(spec=st.sampled_from(SPECS), parts=st.lists(st.sampled_from(SNIPPETS), max_size=8))
def test_solution_module_is_drop_then_assemble_with_fewer_parses(spec: str, parts: list[str]) -> None:
    code = "".join(parts)
    assert solution_module(spec_parts(spec), code) == assemble_module(spec, drop_example_usage(code))
