"""Slash commands: one table, listed in the composer's popup when ``/`` is typed.

Each command declares whether it may run while a turn is running. A command that another part of
agentrt adds (``/compact``, ``/undo``, ``/cost``…) is one more ``SlashCommand`` in ``command_table``.
A unique prefix runs its command (``/st`` is ``/status``); anything else gets one line of help.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agentrt.agent.session import AgentSession
from agentrt.interactive.render import TerminalView
from agentrt.interfaces import APPROVAL_POLICIES, SANDBOX_MODES


class CommandHost(Protocol):
    """What a slash command may use of the session around it."""

    @property
    def view(self) -> TerminalView: ...

    @property
    def session(self) -> AgentSession: ...

    def turn_running(self) -> bool: ...

    def status_rows(self) -> list[tuple[str, str]]: ...

    def submit(self, text: str) -> None: ...

    def insert(self, text: str) -> None: ...

    async def switch(self, resume: str | None) -> None:
        """Close this session and open a new one (``None``) or the one with id ``resume``."""
        ...

    async def choose(self, message: str, options: Sequence[tuple[str, str]]) -> str | None: ...

    async def pick_session(self) -> str | None: ...


Run = Callable[[CommandHost, str], Awaitable[bool]]
"""A command's body: the host and the text after the command's name; ``True`` ends the session."""


@dataclass(frozen=True)
class SlashCommand:
    name: str
    help: str
    run: Run
    during_turn: bool = False


async def dispatch(host: CommandHost, table: Mapping[str, SlashCommand], line: str) -> bool:
    """Run the command ``line`` names; ``True`` when the session should end."""
    word, _, arg = line[1:].strip().partition(" ")
    command = table.get(word) or _by_prefix(table, word)
    if command is None:
        host.view.notice(f"unknown command /{word} — type /help for the list", style="yellow")
        return False
    if host.turn_running() and not command.during_turn:
        host.view.notice(f"/{command.name} waits until the turn ends (Esc interrupts it)", style="yellow")
        return False
    return await command.run(host, arg.strip())


def _by_prefix(table: Mapping[str, SlashCommand], word: str) -> SlashCommand | None:
    found = [c for name, c in table.items() if word and name.startswith(word)]
    return found[0] if len(found) == 1 else None


PRESETS: dict[str, tuple[str, str, str]] = {
    "read-only": ("on-request", "read-only", "read files; ask before writing or using the network"),
    "auto": ("on-request", "workspace-write", "edit this workspace and run commands; ask to go beyond it"),
    "full-access": ("never", "danger-full-access", "no sandbox and no questions: use with care"),
}


async def _help(host: CommandHost, arg: str) -> bool:
    for command in command_table().values():
        host.view.notice(f"/{command.name:<10} {command.help}", style="")
    host.view.notice(
        "Enter sends · Ctrl-J or Alt-Enter: new line · @ completes a path · Up/Down: history · "
        "Esc or Ctrl-C interrupts a turn · Ctrl-D (or Ctrl-C twice) quits"
    )
    return False


async def _status(host: CommandHost, arg: str) -> bool:
    rows = host.status_rows()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        host.view.notice(f"{label + ':':<{width + 1}} {value}", style="")
    return False


async def _model(host: CommandHost, arg: str) -> bool:
    if not arg:
        current = host.session.config.model
        names = await _server_models(host.session)
        if not names:
            host.view.notice(f"model: {current} — /model NAME switches it for the next turn")
            return False
        chosen = await host.choose(f"Model for the next turns (now {current}):", [(n, n) for n in names])
        if chosen is None or chosen == current:
            return False
        arg = chosen
    await host.session.reconfigure(model=arg)
    host.view.notice(f"model switched to {host.session.config.model} for the next turn")
    return False


async def _approvals(host: CommandHost, arg: str) -> bool:
    words = arg.split()
    if not words:
        options = [(name, f"{name:<12} {what}") for name, (_, _, what) in PRESETS.items()]
        chosen = await host.choose("Approvals and sandbox for the next turns:", options)
        if chosen is None:
            return False
        words = [chosen]
    change = _approval_change(words)
    if change is None:
        host.view.notice(
            f"usage: /approvals [{' | '.join(PRESETS)}] or /approvals POLICY SANDBOX "
            f"(policies: {', '.join(APPROVAL_POLICIES)}; sandboxes: {', '.join(SANDBOX_MODES)})",
            style="yellow",
        )
        return False
    await host.session.reconfigure(approval_policy=change[0], sandbox_mode=change[1])
    config = host.session.config
    host.view.notice(f"approvals {config.approval_policy} · sandbox {config.sandbox_mode}")
    return False


async def _server_models(session: AgentSession) -> list[str]:
    """The model ids the provider's ``GET /models`` lists; ``[]`` when it does not say."""
    from agentrt.model.errors import ModelError

    model = session.thread.model
    lister = getattr(model, "list_models", None) or getattr(
        getattr(model, "inner", None), "list_models", None
    )
    if lister is None:
        return []
    try:
        names = await lister()
    except ModelError:
        return []
    return sorted(str(n) for n in names)


def _approval_change(words: list[str]) -> tuple[str, str] | None:
    if len(words) == 1 and words[0] in PRESETS:
        policy, sandbox, _ = PRESETS[words[0]]
        return policy, sandbox
    if len(words) == 2 and words[0] in APPROVAL_POLICIES and words[1] in SANDBOX_MODES:
        return words[0], words[1]
    return None


async def _diff(host: CommandHost, arg: str) -> bool:
    text = repo_diff(host.session.cwd)
    if text is None:
        host.view.notice("/diff: this directory is not inside a git repository", style="yellow")
    elif not text.strip():
        host.view.notice("no changes")
    else:
        host.view.diff(text)
    return False


def repo_diff(cwd: Path) -> str | None:
    """``git diff`` of the work tree against HEAD (or the index before a first commit), untracked files
    included as additions; ``None`` outside a repository."""
    if _git(cwd, "rev-parse", "--is-inside-work-tree") is None:
        return None
    has_head = _git(cwd, "rev-parse", "--verify", "-q", "HEAD") is not None
    parts = [_git(cwd, "diff", "--no-color", *(["HEAD"] if has_head else [])) or ""]
    untracked = (_git(cwd, "ls-files", "--others", "--exclude-standard", "-z") or "").split("\0")
    parts.extend(_added(cwd, path) for path in untracked if path)
    return "".join(parts)


def _added(cwd: Path, path: str) -> str:
    """An untracked file as a diff that adds it (``git diff --no-index`` exits 1 when files differ)."""
    return _git(cwd, "diff", "--no-color", "--no-index", "--", "/dev/null", path, ok=(1,)) or ""


def _git(cwd: Path, *args: str, ok: tuple[int, ...] = ()) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 or done.returncode in ok else None


async def _compact(host: CommandHost, arg: str) -> bool:
    """Compact the history now (the view shows the result, or why it failed and that nothing changed)."""
    host.view.notice("compacting: the model writes a summary of the conversation so far…")
    await host.session.thread.compact()
    return False


async def _cost(host: CommandHost, arg: str) -> bool:
    """The session's cost so far, the price it is counted at, and the budget."""
    rows = dict(host.status_rows())
    host.view.notice(f"cost:   {rows.get('cost', 'unknown')}", style="")
    price = host.session.thread.price
    if price:
        host.view.notice(
            f"price:  ${price.input:g} input, ${price.cached_input:g} cached input, ${price.output:g} output "
            "per million tokens",
            style="",
        )
    budget = host.session.config.max_cost_usd
    host.view.notice(f"budget: {'none (max_cost_usd)' if budget is None else f'${budget:g}'}", style="")
    return False


async def _undo(host: CommandHost, arg: str) -> bool:
    """Put the files back as before the last turn (``/undo N``: the last N); the model is told next turn."""
    from agentrt.agent.undo import UndoError

    if arg and not (arg.isdigit() and int(arg) >= 1):
        host.view.notice(
            "usage: /undo [N] — undo the file changes of the last N turns (default 1)", style="yellow"
        )
        return False
    try:
        summary = await host.session.undo(int(arg or 1))
    except UndoError as exc:
        host.view.notice(f"/undo: {exc}", style="yellow")
        return False
    host.view.notice(summary)
    return False


async def _new(host: CommandHost, arg: str) -> bool:
    await host.switch(None)
    return False


async def _resume(host: CommandHost, arg: str) -> bool:
    chosen = arg or await host.pick_session()
    if chosen is None:
        host.view.notice("no session chosen")
        return False
    await host.switch(chosen)
    return False


INIT_PROMPT = """\
Write an AGENTS.md file at the root of this repository for coding agents that will work here. Look \
around first (layout, build and test commands, conventions you can see in the code and its config). \
Keep it short and concrete: how the project is laid out, how to build, test and lint it, the code \
style it follows, and anything a newcomer would trip over. Do not invent what you cannot see."""


async def _init(host: CommandHost, arg: str) -> bool:
    if (host.session.cwd / "AGENTS.md").exists():
        host.view.notice("AGENTS.md already exists here; /init leaves it alone", style="yellow")
        return False
    host.submit(INIT_PROMPT)
    return False


async def _mention(host: CommandHost, arg: str) -> bool:
    host.insert(" ".join(f"@{shlex.quote(p)}" for p in arg.split()) + " " if arg else "@")
    return False


async def _memory(host: CommandHost, arg: str) -> bool:
    """This repository's memories (feature ``memories``), most recently used first."""
    from agentrt.agent.memory import listing

    session = host.session
    for line in listing(session.setup.home, session.cwd, enabled=session.config.features.enabled("memories")):
        host.view.notice(line, style="")
    return False


async def _mcp(host: CommandHost, arg: str) -> bool:
    """The MCP servers of ``[mcp_servers]`` (``tools.mcp``): each with its state and its tools."""
    from agentrt.tools.mcp import status_lines

    for line in status_lines(host.session.config.raw, getattr(host.session, "_mcp", None)):
        host.view.notice(line, style="")
    return False


async def _quit(host: CommandHost, arg: str) -> bool:
    return True


def command_table() -> dict[str, SlashCommand]:
    """Every slash command, by name."""
    commands = [
        SlashCommand("help", "list the commands and keys", _help, during_turn=True),
        SlashCommand("status", "model, provider, sandbox, approvals, cwd, session, tokens", _status, True),
        SlashCommand("model", "switch the model for the next turn (a picker, or /model NAME)", _model),
        SlashCommand("approvals", "switch the approval policy and sandbox", _approvals),
        SlashCommand("diff", "git diff of the work tree, untracked files included", _diff, True),
        SlashCommand("compact", "summarise the conversation so far to free context", _compact),
        SlashCommand(
            "cost", "what the session has cost so far, at which prices, and its budget", _cost, True
        ),
        SlashCommand("undo", "undo the file changes of the last turn (/undo N: the last N turns)", _undo),
        SlashCommand("memory", "this repository's memories (feature memories)", _memory, True),
        SlashCommand("mcp", "the MCP servers: their state and tools", _mcp, True),
        SlashCommand("new", "start a new session in this directory", _new),
        SlashCommand("resume", "resume another session of this directory", _resume),
        SlashCommand("init", "ask the agent to write an AGENTS.md for this repository", _init),
        SlashCommand("mention", "add a file to the next message (/mention PATH)", _mention, True),
        SlashCommand("quit", "end the session", _quit, True),
        SlashCommand("exit", "end the session", _quit, True),
    ]
    return {c.name: c for c in commands}
