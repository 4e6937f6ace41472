"""Differential tests: agentrt's apply_patch against Codex's own (the 0.169.0 binary) on random input.

The Codex binary applies patches when invoked under the name ``apply_patch``. It is found through
``AGENTRT_CODEX_BIN`` or the cache of ``scripts/install-codex-peer``; without it these tests skip.
Both implementations get the same file tree in separate temporary directories and must agree on
success, stdout, stderr (with the directory's path masked) and every byte of the resulting tree.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agentrt.tools.apply_patch import PatchError, apply_patch

VERSION = "0.169.0"
SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "apply-patch"
Files = dict[str, bytes | None]  # None: an empty directory
Outcome = tuple[int, str, str, dict[str, bytes | None]]


def codex_binary() -> Path | None:
    """The Codex binary named by AGENTRT_CODEX_BIN, else the one scripts/install-codex-peer installs."""
    named = os.environ.get("AGENTRT_CODEX_BIN")
    if named:
        return Path(named) if Path(named).is_file() else None
    peer = Path(os.environ.get("AGENTRT_PEER_DIR") or Path.home() / ".cache" / "agentrt-peer")
    found = sorted((peer / f"codex-{VERSION}" / "node_modules").glob("@openai/codex-*/vendor/*/bin/codex"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    binary = codex_binary()
    if binary is None:
        pytest.skip(f"Codex {VERSION} not installed: run scripts/install-codex-peer or set AGENTRT_CODEX_BIN")
    link = tmp_path_factory.mktemp("codex") / "apply_patch"
    link.symlink_to(binary)
    yield link


def tree(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")}


def setup(root: Path, files: Files) -> None:
    for name, data in files.items():
        path = root / name
        if data is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def run_codex(oracle: Path, files: Files, patch: str) -> Outcome:
    with tempfile.TemporaryDirectory() as work:
        root = Path(work).resolve()
        setup(root, files)
        text = patch.replace("{CWD}", str(root))
        done = subprocess.run([str(oracle), text], cwd=root, capture_output=True, timeout=30)
        mask = str(root)
        out, err = done.stdout.decode(), done.stderr.decode()
        return done.returncode, out.replace(mask, "<CWD>"), err.replace(mask, "<CWD>"), tree(root)


def run_ours(files: Files, patch: str) -> Outcome:
    with tempfile.TemporaryDirectory() as work:
        root = Path(work).resolve()
        setup(root, files)
        text = patch.replace("{CWD}", str(root))
        try:
            rc, out, err = 0, apply_patch(text, root).summary(), ""
        except PatchError as exc:
            rc, out, err = 1, "", exc.message + "\n"
        mask = str(root)
        return rc, out.replace(mask, "<CWD>"), err.replace(mask, "<CWD>"), tree(root)


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir()))
def test_codex_agrees_on_the_conformance_suite(oracle: Path, name: str) -> None:
    scenario = SCENARIOS / name
    files: Files = {}
    if (scenario / "input").is_dir():
        files = {
            p.relative_to(scenario / "input").as_posix(): p.read_bytes()
            for p in (scenario / "input").rglob("*")
            if p.is_file()
        }
    patch = (scenario / "patch.txt").read_text()
    assert run_codex(oracle, files, patch) == run_ours(files, patch)


# --- random file trees and patches ----------------------------------------------------------------

LINES = [
    "x", "y", "z", "  x", "x  ", "\tx", "def f():", "    return 1", "x\u2014y", "x-y", "x\u2013y", "x\u2212y",
    "\u2018q\u2019", "'q'", "\u201cq\u201d", '"q"', "a\u00a0b", "a b", "", " ", "\u3000z", "*** x", "@@ x", "+x", "-x",
]  # fmt: skip
NAMES = ["f", "g", "sub/h", "sub", "new", "dir", "nested/deep/n", "sub/../f", "./g", "{CWD}/f", "{CWD}/abs"]


def vary(draw: st.DrawFn, line: str) -> str:
    """The line as a model might misquote it: padded, trimmed, or with its punctuation swapped."""
    how = draw(st.sampled_from(["same"] * 6 + ["pad", "indent", "strip", "fancy", "ascii"]))
    if how == "pad":
        return line + " "
    if how == "indent":
        return "  " + line
    if how == "strip":
        return line.strip()
    if how == "fancy":
        return (
            line.replace("-", "\u2013").replace("'", "\u2019").replace('"', "\u201d").replace(" ", "\u00a0")
        )
    if how == "ascii":
        return (
            line.replace("\u2014", "-").replace("\u2019", "'").replace("\u201c", '"').replace("\u00a0", " ")
        )
    return line


@st.composite
def file_trees(draw: st.DrawFn) -> Files:
    files: Files = {}
    for name in draw(st.lists(st.sampled_from(["f", "g", "sub/h"]), unique=True, min_size=1, max_size=3)):
        lines = draw(st.lists(st.sampled_from(LINES), max_size=9))
        ending = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
        text = "".join(line + draw(st.sampled_from([ending] * 5 + ["\n", "\r\n"])) for line in lines)
        if lines and draw(st.integers(0, 3)) == 0:
            text = text.rstrip("\r\n")
        files[name] = text.encode()
    if draw(st.integers(0, 9)) == 0:
        files["dir"] = None
    if draw(st.integers(0, 14)) == 0:
        files["bin"] = b"\xff\xfe x\n"
    return files


@st.composite
def chunk_lines(draw: st.DrawFn, source: list[str], first: bool, start: int) -> tuple[list[str], int]:
    """One chunk, mostly built from a window of the file's lines; returns the lines and where it ended."""
    out: list[str] = []
    if not first or draw(st.booleans()):
        if source and start < len(source) and draw(st.booleans()):
            at = draw(st.integers(start, len(source) - 1))
            out.append("@@ " + vary(draw, source[at]))
            start = at + 1
        else:
            out.append(draw(st.sampled_from(["@@", "@@", "@@ nowhere", "@@  ", "@@x"])))
    if source and start < len(source) and draw(st.integers(0, 6)) > 0:
        begin = draw(st.integers(start, len(source) - 1))
        end = min(len(source), begin + draw(st.integers(1, 4)))
        for line in source[begin:end]:
            kind = draw(st.sampled_from([" ", " ", "-", "-+"]))
            out.append(kind[0] + vary(draw, line))
            if kind == "-+":
                out.append("+" + draw(st.sampled_from(LINES)))
        if draw(st.integers(0, 3)) == 0:
            out.insert(draw(st.integers(0, len(out))), "+" + draw(st.sampled_from(LINES)))
        start = end
        if end == len(source) and draw(st.booleans()):
            out.append("*** End of File")
    else:
        out += [
            draw(st.sampled_from(" -+")) + draw(st.sampled_from(LINES))
            for _ in range(draw(st.integers(1, 3)))
        ]
    if draw(st.integers(0, 12)) == 0:
        out.append(draw(st.sampled_from(["", " ", "\t", "*** End of File", "*** Frob", "@@@"])))
    return out, start


@st.composite
def patches(draw: st.DrawFn, files: Files) -> str:
    texts = {k: v.decode("utf-8", "replace") for k, v in files.items() if v is not None}
    out = ["*** Begin Patch"]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["add", "delete", "update", "update", "update", "update"]))
        existing = [name for name in texts if name != "bin"]
        name = draw(st.sampled_from(NAMES + existing * 20 if kind == "update" else NAMES + existing * 2))
        if kind == "add":
            out.append(f"*** Add File: {name}")
            out += ["+" + draw(st.sampled_from(LINES)) for _ in range(draw(st.integers(0, 3)))]
            continue
        if kind == "delete":
            out.append(f"*** Delete File: {name}")
            continue
        out.append(f"*** Update File: {name}")
        if draw(st.integers(0, 4)) == 0:
            out.append(
                "*** Move to: " + draw(st.sampled_from(["f", "moved/x", "dir", "f/x", name, "{CWD}/abs2"]))
            )
        source = (
            texts.get(name.removeprefix("./").replace("sub/../", ""), "")
            .replace("\r\n", "\n")
            .replace("\r", "\n")
            .split("\n")
        )
        source = source[:-1] if source[-1:] == [""] else source
        start = 0
        for index in range(draw(st.integers(1, 3))):
            lines, start = draw(chunk_lines(source, index == 0, start))
            out += lines
    out.append("*** End Patch")
    text = "\n".join(out)
    wrap = draw(st.sampled_from(["none"] * 10 + ["heredoc", "padded", "crlf"]))
    if wrap == "heredoc":
        return f"<<'EOF'\n{text}\nEOF\n"
    if wrap == "padded":
        return f"\n  {text}  \n\n"
    return text.replace("\n", "\r\n") if wrap == "crlf" else text


@st.composite
def cases(draw: st.DrawFn) -> tuple[Files, str]:
    files = draw(file_trees())
    return files, draw(patches(files))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(cases())
def test_random_patches_match_codex(oracle: Path, case: tuple[Files, str]) -> None:
    files, patch = case
    expected = run_codex(oracle, files, patch)
    event("codex succeeded" if expected[0] == 0 else "codex failed")
    assert run_ours(files, patch) == expected


TOKENS = [
    "*** Add File: f", "*** Add File: n", "  *** Add File: n ", "\t*** Add File: n", "*** Add File:", "*** Delete File: g",
    " *** Delete File: g", "*** Update File: f", "*** Update File: g  ", "*** Update File:  f", "*** Move to: m",
    "*** Move to: m  ", "  *** Move to: m", "*** Move to: ", "@@", "@@ ", "@@ a", "@@ b ", "@@  b", "@@\ta", "@@a",
    " @@ a", "*** End of File", "*** End of File ", " *** End of File", "\t*** End of File", "*** End Patch",
    " *** End Patch", "\t*** End Patch", "*** Begin Patch", "", " ", "\t", "\u3000", "+", "-", "+x", "-a", "-b", " a",
    " b", "a", "*", "*** Foo",
]  # fmt: skip


@st.composite
def token_patches(draw: st.DrawFn) -> str:
    first = draw(
        st.sampled_from(["*** Begin Patch"] * 6 + [" *** Begin Patch", "<<EOF\n*** Begin Patch", "EOF"])
    )
    header = draw(
        st.sampled_from(["*** Update File: f", "*** Add File: n", "*** Delete File: g", "*** Update File: g"])
    )
    body = draw(st.lists(st.sampled_from(TOKENS), max_size=9))
    last = draw(st.sampled_from(["*** End Patch"] * 8 + ["*** End Patch\t", "*** End Patch\nEOF", "x"]))
    return "\n".join([first, header, *body, last])


@settings(max_examples=200, deadline=None)
@given(token_patches())
def test_parser_edge_cases_match_codex(oracle: Path, patch: str) -> None:
    files: Files = {"f": b"a\nb\n", "g": b"a\r\nb\r\n"}
    expected = run_codex(oracle, files, patch)
    event("codex succeeded" if expected[0] == 0 else "codex failed")
    assert run_ours(files, patch) == expected


def test_the_oracle_is_the_pinned_version(oracle: Path) -> None:
    done = subprocess.run([str(oracle.resolve()), "--version"], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == f"codex-cli {VERSION}"
