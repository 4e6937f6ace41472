"""The interactive session driven through a real terminal (tmux), against the simulator's script policy.

Each test starts ``agentrt --sim SCRIPT`` in a tmux pane in a fresh git repository, types and presses
keys as a person would, and checks what the terminal shows (``capture-pane``), what the session
recorded (its rollout file) and what is left running.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tty_support import AGENTRT, Terminal, processes_with, session_env, write_script

from agentrt.agent.rollout import history_from_rollout, read_rollout

pytestmark = pytest.mark.slow

Start = Callable[..., Terminal]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def start(tmp_path: Path, repo: Path, home: Path) -> Iterator[Start]:
    """``start(script, *args)``: the session on ``script`` in ``repo``, ready for input."""
    terminals: list[Terminal] = []

    def run(script: list[dict[str, Any]] | None, *args: str, ready: bool = True) -> Terminal:
        where = tmp_path / f"t{len(terminals)}"
        where.mkdir()
        sim = ["--sim", str(write_script(where / "script.json", script))] if script is not None else []
        term = Terminal(where, [*AGENTRT, *args, *sim], session_env(home), repo)
        terminals.append(term)
        if ready:
            term.wait_for(r"^› ", timeout=30)
        return term

    yield run
    for term in terminals:
        term.close()


def rollouts(home: Path) -> list[Path]:
    return sorted((home / "sessions").rglob("rollout-*.jsonl"))


def rollout_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def prompts_in(path: Path) -> list[str]:
    """The user's prompts a rollout recorded (its ``user_message`` lines), in order."""
    return [
        line["payload"]["message"]
        for line in rollout_lines(path)
        if line["type"] == "event_msg" and line["payload"].get("type") == "user_message"
    ]


def shell(command: list[str], content: str = "") -> dict[str, Any]:
    return {"content": content, "tool_calls": [{"name": "shell", "arguments": {"command": command}}]}


ANSWER = "## Result\n\nThe answer is **forty-two**.\n\n```python\nprint(6 * 7)\n```\n\nDone here."


def test_a_prompt_streams_to_its_markdown_answer(start: Start, home: Path) -> None:
    term = start([{"content": ANSWER, "reasoning": "Multiply six by seven."}])
    term.type("what is six times seven?")
    term.keys("Enter")
    term.wait_for(r"Done here\.")
    term.wait_for(r"tokens: input")
    screen = term.screen()
    assert "› what is six times seven?" in screen
    assert "The answer is forty-two." in screen  # rendered: no Markdown markers left
    assert "**" not in screen and "## Result" not in screen and "```" not in screen
    assert "print(6 * 7)" in screen
    assert screen.count("The answer is forty-two.") == 1  # streamed blocks are written once
    assert "thinking" in screen and "Multiply six by seven." in screen  # the reasoning summary
    [path] = rollouts(home)
    kinds = [(line["type"], line["payload"].get("type")) for line in rollout_lines(path)]
    assert ("event_msg", "user_message") in kinds


def test_approved_command_runs_and_refused_one_tells_the_model(start: Start, repo: Path, home: Path) -> None:
    script = [
        shell(["touch", "approved.txt"]),
        {"content": "made it"},
        shell(["touch", "refused.txt"]),
        {"content": "understood"},
    ]
    term = start(script, "-a", "untrusted", "-s", "workspace-write")
    term.type("make a file")
    term.keys("Enter")
    term.wait_for(r"allow\? y / a / n")
    assert "touch approved.txt" in term.screen() and "not a known-safe command" in term.screen()
    term.keys("y")
    term.wait_for(r"made it")
    assert (repo / "approved.txt").exists()
    term.type("and another")
    term.keys("Enter")
    term.wait_for(r"why: not a known-safe command", count=2)
    term.wait_for(r"allow\? y / a / n")
    term.keys("n")
    term.wait_for(r"what should the agent do instead\?")
    term.type("use the existing file instead")
    term.keys("Enter")
    term.wait_for(r"understood")
    assert not (repo / "refused.txt").exists()
    [path] = rollouts(home)
    outputs = [m["content"] for m in history_from_rollout(read_rollout(path)) if m["role"] == "tool"]
    assert any("use the existing file instead" in text for text in outputs)  # sent with the next request


def test_esc_mid_command_kills_it_and_the_next_turn_works(start: Start, home: Path) -> None:
    marker = "agentrt-tty-test-sleep-7781"
    script = [shell(["bash", "-c", f"sleep 300 # {marker}"]), {"content": "back again"}]
    term = start(script, "-s", "workspace-write")
    term.type("wait a long time")
    term.keys("Enter")
    term.wait_for(r"\$ bash -c 'sleep 300")
    assert processes_with(marker), "the command is running"
    term.keys("Escape")
    term.wait_for(r"interrupted")
    assert not processes_with(marker), "Esc killed the command's process group"
    term.type("go on")
    term.keys("Enter")
    term.wait_for(r"back again")
    [path] = rollouts(home)
    texts = [json.dumps(line["payload"]) for line in rollout_lines(path) if line["type"] == "response_item"]
    assert any("turn_aborted" in text for text in texts)  # the model is told on the next turn


def test_esc_mid_stream_stops_the_answer(start: Start) -> None:
    words = " ".join(f"word{i}" for i in range(1500))
    long_reply = "First paragraph arrives.\n\n" + words + "\n\nLAST-PARAGRAPH"
    term = start([{"content": long_reply}])
    term.type("talk a lot")
    term.keys("Enter")
    term.wait_for(r"First paragraph arrives\.")
    term.keys("Escape")
    term.wait_for(r"interrupted")
    assert "LAST-PARAGRAPH" not in term.screen()
    assert "Esc to interrupt" not in term.visible()  # the status line no longer says a turn runs


def test_a_multiline_paste_is_inserted_not_sent(start: Start, home: Path) -> None:
    term = start([{"content": "got three lines"}])
    term.paste("line one\nline two\nline three")
    term.wait_for(r"line three")
    assert "got three lines" not in term.screen()
    term.keys("Enter")
    term.wait_for(r"got three lines")
    [path] = rollouts(home)
    prompts = prompts_in(path)
    assert prompts == ["line one\nline two\nline three"]


def test_status_and_diff(start: Start, repo: Path) -> None:
    (repo / "notes.txt").write_text("an untracked note\n")
    term = start([{"content": "ok"}], "-m", "agentrt-sim")
    term.type("/status")
    term.keys("Enter")
    term.wait_for(r"tokens used:")
    screen = term.screen()
    for label in ("model:", "provider:", "sandbox:", "approvals:", "cwd:", "session:"):
        assert label in screen
    assert str(repo) in screen
    term.type("/diff")
    term.keys("Enter")
    term.wait_for(r"\+an untracked note")
    assert "notes.txt" in term.screen()
    term.type("/nonsense")
    term.keys("Enter")
    term.wait_for(r"unknown command /nonsense")


def test_new_then_resume_by_picker(start: Start, home: Path) -> None:
    term = start([{"content": "first answer"}, {"content": "second answer"}])
    header = r"· session ([0-9a-f-]{36}) ·"
    first_id = term.wait_for(header).group(1)
    term.type("the first session")
    term.keys("Enter")
    term.wait_for(r"first answer")
    term.type("/new")
    term.keys("Enter")
    second = term.wait_for(header, count=2).group(1)
    assert second != first_id
    term.type("/resume")
    term.keys("Enter")
    term.wait_for(r"Resume which session")
    term.wait_for(r"the first session")
    assert "(no prompt)" not in term.screen()  # the empty new session is not offered
    term.keys("Enter")
    term.wait_for(rf"resumed {first_id}")
    assert len(rollouts(home)) == 2


def test_resume_last_shows_the_history(start: Start, home: Path) -> None:
    term = start([{"content": "remember the marmot"}])
    term.type("tell me an animal")
    term.keys("Enter")
    term.wait_for(r"remember the marmot")
    term.keys("C-d")
    assert term.exit_status() == 0
    again = start([{"content": "still here"}], "resume", "--last")
    again.wait_for(r"resumed ")
    screen = again.screen()
    assert "tell me an animal" in screen and "remember the marmot" in screen
    again.type("and now?")
    again.keys("Enter")
    again.wait_for(r"still here")
    assert len(rollouts(home)) == 1  # resumed into the same file


@pytest.mark.parametrize("how", ["ctrl-d", "ctrl-c-twice", "/quit", "/exit"])
def test_every_way_out_exits_cleanly(start: Start, how: str) -> None:
    marker = f"agentrt-tty-quit-{how.strip('/')}"
    term = start([shell(["bash", "-c", f"sleep 300 # {marker}"])], "-s", "workspace-write")
    term.type("start something long")
    term.keys("Enter")
    term.wait_for(r"\$ bash -c 'sleep 300")
    if how.startswith("/"):
        term.keys("Escape")
        term.wait_for(r"interrupted")
        term.type(how)
        term.keys("Enter")
    elif how == "ctrl-d":
        term.keys("Escape")
        term.wait_for(r"interrupted")
        term.keys("C-d")
    else:
        term.keys("C-c")  # the first interrupts the turn
        term.wait_for(r"interrupted")
        term.keys("C-c")
        term.wait_for(r"press Ctrl-C again to quit")
        term.keys("C-c")
    assert term.exit_status() == 0
    assert "To continue this session, run: agentrt resume" in term.screen()
    assert not processes_with(marker)


def test_stdin_that_is_not_a_terminal_is_refused(repo: Path, home: Path) -> None:
    done = subprocess.run(
        [*AGENTRT, "hello"], cwd=repo, env=session_env(home), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a terminal" in lines[0] and "agentrt exec" in lines[0]
    assert done.stdout == ""


def test_a_first_prompt_on_the_command_line_is_sent(start: Start) -> None:
    term = start([{"content": "answered the argument"}], "summarise this repository", ready=False)
    term.wait_for(r"answered the argument", timeout=30)
    assert "› summarise this repository" in term.screen()


def test_outside_a_repository_it_refuses_like_exec(tmp_path: Path, home: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    term = Terminal(tmp_path, [*AGENTRT, "--sim", str(write_script(tmp_path / "s.json", [{"content": "x"}]))],
                    session_env(home), bare)  # fmt: skip
    try:
        assert term.exit_status() == 2
        assert "--skip-git-repo-check" in term.screen()
    finally:
        term.close()


def test_always_approve_stops_asking_for_that_command(start: Start, repo: Path) -> None:
    touch = shell(["touch", "again.txt"])
    term = start(
        [touch, {"content": "one"}, touch, {"content": "two"}], "-a", "untrusted", "-s", "workspace-write"
    )
    term.type("first")
    term.keys("Enter")
    term.wait_for(r"allow\? y / a / n")
    term.keys("a")
    term.wait_for(r"approved for this session")
    term.wait_for(r"^one$")
    term.type("second")
    term.keys("Enter")
    term.wait_for(r"^two$")
    assert term.screen().count("why: not a known-safe command") == 1  # not asked the second time


def test_history_completion_and_the_command_popup(start: Start, repo: Path, home: Path) -> None:
    (repo / "notes.txt").write_text("x\n")
    term = start([{"content": "noted"}])
    term.type("remember this prompt")
    term.keys("Enter")
    term.wait_for(r"noted")
    term.keys("Up")
    term.wait_for(r"^› remember this prompt", count=2)  # recalled into the composer
    term.keys("C-u")
    records = [json.loads(line) for line in (home / "history.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == ["remember this prompt"]
    assert set(records[0]) == {"session_id", "ts", "text"}
    assert (home / "history.jsonl").stat().st_mode & 0o777 == 0o600
    term.type("look at @not")
    term.wait_for(r"notes\.txt")  # the completion popup offers the repository path
    term.keys("Tab")
    term.wait_for(r"look at @notes\.txt")
    term.keys("C-u")
    term.type("/")
    term.wait_for(r"/approvals\s+switch the approval policy")  # the popup lists commands with their help
    term.wait_for(r"/diff\s+git diff of the work tree")
    term.type("res")
    term.wait_for(r"/resume\s+resume another session")


def test_switching_model_and_approvals_for_the_next_turn(start: Start) -> None:
    term = start([{"content": "fine"}])
    term.type("/approvals auto")
    term.keys("Enter")
    term.wait_for(r"approvals on-request · sandbox workspace-write")
    term.wait_for(r"sandbox workspace-write · approvals on-request · context")  # the status line
    term.type("/model other-model")
    term.keys("Enter")
    term.wait_for(r"model switched to other-model")
    term.wait_for(r"^ other-model · sandbox")


def test_an_interactive_session_resumes_in_exec(start: Start, repo: Path, home: Path, tmp_path: Path) -> None:
    term = start([{"content": "first reply"}])
    session_id = term.wait_for(r"· session ([0-9a-f-]{36}) ·").group(1)
    term.type("hello from the terminal")
    term.keys("Enter")
    term.wait_for(r"first reply")
    term.keys("C-d")
    assert term.exit_status() == 0
    script = write_script(tmp_path / "exec.json", [{"content": "x"}, {"content": "exec carried on"}])
    done = subprocess.run(
        [*AGENTRT, "exec", "resume", session_id, "--sim", str(script), "continue"],
        cwd=repo, env=session_env(home), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exec carried on"  # the script's second step: the history was there
    [path] = rollouts(home)
    prompts = prompts_in(path)
    assert prompts == ["hello from the terminal", "continue"]


def test_resume_without_an_id_opens_the_picker(start: Start, home: Path) -> None:
    term = start([{"content": "answer one"}])
    term.type("the session to pick")
    term.keys("Enter")
    term.wait_for(r"answer one")
    term.keys("C-d")
    assert term.exit_status() == 0
    picker = start([{"content": "unused"}], "resume", ready=False)
    picker.wait_for(r"Resume which session \(in this directory")
    picker.wait_for(r"1 turn\s+the session to pick")
    picker.keys("Enter")
    picker.wait_for(r"resumed ")
    picker.wait_for(r"^› ", count=2)  # the replayed prompt and the live composer
    assert "answer one" in picker.screen()


def test_compact_by_hand(start: Start, home: Path) -> None:
    term = start([{"content": "first answer"}, {"content": "THE SUMMARY TEXT"}])
    term.type("a first turn")
    term.keys("Enter")
    term.wait_for(r"first answer")
    term.type("/compact")
    term.keys("Enter")
    term.wait_for(r"context compacted: ~[\d,]+ → ~[\d,]+ tokens")
    [path] = rollouts(home)
    compacted = [line for line in rollout_lines(path) if line["type"] == "compacted"]
    assert len(compacted) == 1 and compacted[0]["payload"]["message"] == "THE SUMMARY TEXT"
    history = compacted[0]["payload"]["replacement_history"]  # Responses items, as Codex records them
    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a first turn"}]}
    assert user in history
    assert {"role": "user", "content": "a first turn"} in history_from_rollout(read_rollout(path))
    term.type("and on")
    term.keys("Enter")
    term.wait_for(r"^tokens: input", count=2)  # the next turn works on the compacted history
    term.type("/status")
    term.keys("Enter")
    term.wait_for(r"context used: +[\d,]+ of 131,072 tokens")


def test_model_without_a_name_offers_the_servers_models(start: Start) -> None:
    term = start([{"content": "fine"}])
    term.type("/model")
    term.keys("Enter")
    term.wait_for(r"Model for the next turns \(now agentrt-sim\)")
    term.wait_for(r"1\. agentrt-sim")  # what the server's GET /models lists
    term.keys("Enter")  # the same model: nothing changes
    term.wait_for(r"1\. agentrt-sim\s*\n› ")  # the composer is back below the picker
    assert "model switched" not in term.screen()


def test_shift_enter_starts_a_new_line_where_the_terminal_sends_it(start: Start, home: Path) -> None:
    term = start([{"content": "two lines received"}])
    term.type("first line")
    term.type("\x1b[13;2u")  # Shift-Enter as a terminal with the CSI u protocol sends it
    term.type("second line")
    term.wait_for(r"second line")
    assert "two lines received" not in term.screen()  # not sent
    term.keys("Enter")
    term.wait_for(r"two lines received")
    [path] = rollouts(home)
    prompts = prompts_in(path)
    assert prompts == ["first line\nsecond line"]


def test_cost_shows_the_sessions_cost_and_its_prices(start: Start, home: Path) -> None:
    (home / "config.toml").write_text('[model_prices."agentrt-sim"]\ninput = 1000.0\noutput = 2000.0\n')
    term = start([{"content": "priced answer"}], "-c", "max_cost_usd=50.0")
    term.type("hello")
    term.keys("Enter")
    term.wait_for(r"priced answer")
    term.wait_for(r"· cost \$")  # the turn's closing line
    term.type("/cost")
    term.keys("Enter")
    term.wait_for(r"price: +\$1000 input, \$1000 cached input, \$2000 output per million tokens")
    term.wait_for(r"budget: \$50")
    assert re.search(r"cost: +\$\d", term.screen())
