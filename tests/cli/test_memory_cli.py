"""Memory as a user meets it: real ``agentrt exec`` runs (feature ``memories``) against a loopback model
server that records every request — a ``remember`` call saves a memory, a second session's first
request carries it in the ``<memories>`` block, a citation keeps it fresh — then ``agentrt memory
list|show|forget|clear``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentrt_cli import agentrt
from capture_server import Captured, capture_server

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def configured_home(tmp_path: Path, url: str) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "m"\nmodel_provider = "cap"\n[model_providers.cap]\nname = "capture"\n'
        f'base_url = "{url}"\nwire_api = "responses"\nrequires_api_key = false\n'
    )
    return home


def exec_turn(home: Path, cwd: Path, script: list[dict[str, Any]], *args: str) -> list[Captured]:
    """One ``agentrt exec`` run against a fresh server playing ``script``; the requests it got."""
    with capture_server(script) as server:
        (home / "config.toml").write_text((home / "config.toml").read_text().replace(_url(home), server.url))
        done = agentrt(home, cwd, "exec", "--json", *args)
        assert done.returncode == 0, done.stderr
        return list(server.requests)


def _url(home: Path) -> str:
    text = (home / "config.toml").read_text()
    return text.split('base_url = "', 1)[1].split('"', 1)[0]


def user_texts(request: Captured) -> list[str]:
    texts = []
    for item in request.body.get("input", ()):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                texts.append(content)
            else:
                texts.extend(part.get("text", "") for part in content)
    return texts


def tool_names(request: Captured) -> set[str]:
    return {t.get("name") or t.get("function", {}).get("name") for t in request.body.get("tools", ())}


def tool_outputs(request: Captured) -> list[str]:
    return [
        str(item.get("output"))
        for item in request.body.get("input", ())
        if item.get("type") == "function_call_output"
    ]


def remember(text: str, tags: list[str]) -> dict[str, Any]:
    return {"calls": [{"name": "remember", "arguments": {"text": text, "tags": tags}}]}


def test_remember_then_offered_cited_and_managed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    other = tmp_path / "other"
    (other / ".git").mkdir(parents=True)
    home = configured_home(tmp_path, "http://127.0.0.1:9/v1")
    on = ("--enable", "memories")

    # session 1: nothing to offer yet; the model saves a memory, and tries to save a secret
    script = [
        remember("Run the tests with `make check`; plain pytest misses the fixtures.", ["tests"]),
        remember(f"The CI token is {TOKEN}", ["ci"]),
        {"text": "Noted."},
    ]
    first = exec_turn(home, work, script, *on, "Find out how to run the tests")
    assert "remember" in tool_names(first[0])
    assert not any(t.startswith("<memories>") for t in user_texts(first[0]))
    assert tool_outputs(first[1]) == ["Saved as [mem:1]."]
    (refusal,) = tool_outputs(first[2])[1:]
    assert refusal.startswith("Not saved") and "GitHub token" in refusal and TOKEN not in refusal
    assert TOKEN.encode() not in b"".join(p.read_bytes() for p in home.glob("memories.sqlite*"))

    # session 2, a new one: its first request carries the block before the prompt; the answer cites it
    second = exec_turn(home, work, [{"text": "Run `make check` [mem:1]."}], *on, "How do I run the tests?")
    texts = user_texts(second[0])
    (block,) = [t for t in texts if t.startswith("<memories>")]
    assert "[mem:1] (tags: tests) Run the tests with `make check`" in block and block.endswith("</memories>")
    assert texts.index(block) == len(texts) - 2 and texts[-1] == "How do I run the tests?"
    assert "ghp_" not in block

    shown = agentrt(home, work, "memory", "show", "1")
    assert shown.returncode == 0, shown.stderr
    assert "uses:       1" in shown.stdout and "make check" in shown.stdout
    assert f"repository: {work.resolve()}" in shown.stdout

    # resuming session 2 offers nothing new: the block it had is in its history, once
    resumed = exec_turn(home, work, [{"text": "ok"}], *on, "resume", "--last", "and the linter?")
    assert sum(t.startswith("<memories>") for t in user_texts(resumed[0])) == 1

    # the feature off: no block, no tool
    off = exec_turn(home, work, [{"text": "ok"}], "How do I run the tests?")
    assert "remember" not in tool_names(off[0])
    assert not any(t.startswith("<memories>") for t in user_texts(off[0]))

    # another repository: nothing offered, nothing listed
    elsewhere = exec_turn(home, other, [{"text": "ok"}], *on, "How do I run the tests?")
    assert not any(t.startswith("<memories>") for t in user_texts(elsewhere[0]))
    assert agentrt(home, other, "memory", "list").stdout.startswith("No memories of")

    # agentrt memory list / --json / --all / show / forget / clear
    listing = agentrt(home, work, "memory", "list")
    header, row = listing.stdout.splitlines()
    assert header.split() == ["ID", "USED", "USES", "TEXT"]
    assert row.split()[0] == "1" and "make check" in row
    (entry,) = map(json.loads, agentrt(home, work, "memory", "list", "--json").stdout.splitlines())
    assert entry["id"] == 1 and entry["uses"] == 1 and entry["tags"] == ["tests"]
    assert entry["repository"] == str(work.resolve())
    assert str(work.resolve()) in agentrt(home, other, "memory", "list", "--all").stdout
    assert agentrt(home, other, "memory", "show", "1").returncode == 1  # not this repository's
    assert agentrt(home, other, "memory", "forget", "1").returncode == 1

    exec_turn(home, work, [remember("Docs build with mkdocs.", ["docs"]), {"text": "ok"}], *on, "docs?")
    refused = agentrt(home, work, "memory", "clear")  # no terminal to ask: --yes is needed
    assert refused.returncode == 2 and "--yes" in refused.stderr
    forgot = agentrt(home, work, "memory", "forget", "1")
    assert forgot.returncode == 0 and "Forgot memory 1" in forgot.stdout
    assert agentrt(home, work, "memory", "forget", "1").returncode == 1
    assert [
        json.loads(line)["id"] for line in agentrt(home, work, "memory", "list", "--json").stdout.splitlines()
    ] == [2]
    cleared = agentrt(home, work, "memory", "clear", "--yes")
    assert cleared.returncode == 0 and "Deleted 1 memories" in cleared.stdout
    assert agentrt(home, work, "memory", "list", "--json").stdout == ""


def test_memory_commands_without_a_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    listing = agentrt(home, tmp_path, "memory", "list")
    assert listing.returncode == 0 and listing.stdout.startswith("No memories of")
    assert agentrt(home, tmp_path, "memory", "show", "3").returncode == 1
    assert agentrt(home, tmp_path, "memory", "clear", "--yes").returncode == 0
    assert not (home / "memories.sqlite").exists()  # looking creates nothing
    assert agentrt(home, tmp_path, "memory").returncode == 2
