"""From a model's reply to the ``solution.py`` that gets tested.

**Extraction rule.** Fenced blocks are found (```` ``` ```` or ``~~~``, any info string; an unclosed
last fence runs to the end of the reply). The code is the longest block labelled ``python``, ``py``
or ``python3``; failing that, the longest unlabelled block; failing that, the longest block of any
label. **Fallback** when the reply has no fence at all: the whole reply, if it parses as Python;
otherwise there is no code, and the attempt fails with a message saying so.

**Module rule.** ``solution.py`` holds the whole module: names the task's prompt defines at top level
(imports, helper functions such as ``poly`` or ``encode_cyclic``) that the extracted code does not
define are copied in front of it, so the test's ``from solution import *`` finds them.

**Example-usage rule.** Code that only exercises the solution is dropped from the extracted code
before it is written: top-level expression statements other than a string (``check(f)``,
``print(f(3))``), ``assert`` statements, ``if __name__ == "__main__":`` blocks and functions named
``test_*`` (which the test module's ``from solution import *`` would hand to pytest). Small models
end their module with a call to a ``check`` they never define; at temperature 0 they repeat it on
every retry, so without this rule a correct function fails at import.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
_PY_LABELS = frozenset({"python", "py", "python3"})


def extract_code(reply: str) -> str | None:
    """The code a reply carries, by the rule above; ``None`` when there is none."""
    blocks = [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(reply)]
    if not blocks:
        return reply.strip() + "\n" if reply.strip() and _parses(reply) else None
    for wanted in (lambda label: label in _PY_LABELS, lambda label: label == "", lambda label: True):
        chosen = [body for label, body in blocks if wanted(label)]
        if chosen:
            code = max(chosen, key=len)
            return code if code.endswith("\n") else code + "\n"
    return None


def drop_example_usage(code: str) -> str:
    """``code`` without its top-level example usage (the rule above); unchanged if it does not parse."""
    return _dropped(code)[0]


def _dropped(code: str) -> tuple[str, ast.Module | None]:
    """``drop_example_usage(code)`` and, when that is ``code`` itself, its parsed tree (else ``None``)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, None
    lines = code.splitlines(keepends=True)
    cut = [node for node in tree.body if _is_example_usage(node)]
    if not cut:
        return code, tree
    for node in reversed(cut):
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        del lines[first - 1 : node.end_lineno or node.lineno]
    return re.sub(r"\n{4,}", "\n\n\n", "".join(lines)).rstrip() + "\n", None  # at most two blank lines left


def _is_example_usage(node: ast.stmt) -> bool:
    if isinstance(node, ast.Expr):
        return not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str))
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name.startswith("test")
    return isinstance(node, ast.If) and _is_main_guard(node.test)


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


@dataclass(frozen=True, slots=True)
class SpecPart:
    """One top-level statement of a task's prompt that defines ``names``, as ``text``."""

    names: frozenset[str]
    text: str


def spec_parts(spec: str) -> tuple[SpecPart, ...] | None:
    """The prompt's defining statements, for ``solution_module``; ``None`` when it does not parse."""
    try:
        tree = ast.parse(spec)
    except SyntaxError:
        return None
    lines = spec.splitlines(keepends=True)
    parts: list[SpecPart] = []
    for node in tree.body:
        names = _top_level_names(ast.Module(body=[node], type_ignores=[]))
        if names:
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            end = node.end_lineno or node.lineno
            parts.append(SpecPart(frozenset(names), "".join(lines[first - 1 : end]).rstrip() + "\n"))
    return tuple(parts)


def assemble_module(spec: str, code: str) -> str:
    """``code`` preceded by whatever top-level definitions of ``spec`` it lacks."""
    return _assemble(spec_parts(spec), code, None)


def solution_module(parts: tuple[SpecPart, ...] | None, code: str) -> str:
    """``assemble_module(spec, drop_example_usage(code))`` for the spec ``parts`` came from, with the
    code parsed once where nothing was dropped (a parse is ~50 us of the runtime's CPU an attempt)."""
    kept, tree = _dropped(code)
    return _assemble(parts, kept, tree)


def _assemble(parts: tuple[SpecPart, ...] | None, code: str, tree: ast.Module | None) -> str:
    if parts is None:  # a prompt that does not parse: nothing to copy in
        return code
    if tree is None:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return code  # pytest will report the syntax error to the model
    defined = _top_level_names(tree)
    prelude = [part.text for part in parts if not part.names <= defined]
    if not prelude:
        return code
    return "\n".join(prelude) + "\n\n" + code


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True
