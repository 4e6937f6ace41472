"""What agentrt tells its coding agent: the base system prompt and the AGENTS.md project notes.

AGENTS.md discovery: the global note in ``$AGENTRT_HOME`` (``AGENTS.override.md``, else
``AGENTS.md``), then one note per directory from the git root down to the working directory (only
the working directory when it is not inside a git repository). In every place the first non-empty
file of ``AGENTS.override.md``, ``AGENTS.md`` counts. The notes are joined root to leaf and capped
at ``max_bytes`` of file text in total.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agentrt.git import git_root

NOTE_NAMES = ("AGENTS.override.md", "AGENTS.md")
CONTEXT_PREFIXES = (
    "<environment_context>",
    "# AGENTS.md instructions",
    "<user_instructions>",
    "<undo>",
    "<memories>",  # agent.memory's opening block
)
"""How the user-role messages agentrt writes itself (not the person) begin."""
DEFAULT_MAX_BYTES = 32768


def is_context_message(message: Mapping[str, object]) -> bool:
    """Whether ``message`` is context agentrt wrote (environment, AGENTS.md notes), not a person's prompt."""
    content = message.get("content")
    if isinstance(content, list) and content and isinstance(content[0], dict):  # parts (parity mode)
        content = content[0].get("text")
    return message.get("role") == "user" and isinstance(content, str) and content.startswith(CONTEXT_PREFIXES)


def base_instructions(kind: str = "full") -> str:
    """The base system prompt of agentrt's coding agent (package data): ``full`` is the whole guide
    (``prompts/base.md``), ``compact`` a short one for small local models (``prompts/compact.md``;
    Qwen2.5-Coder-1.5B follows the tool protocol with it where the long guide leads it astray),
    ``codex`` the guide to the tools parity mode offers (``prompts/codex.md``: Codex 0.169's set)."""
    from importlib.resources import files

    name = {"compact": "compact.md", "codex": "codex.md"}.get(kind, "base.md")
    return (files("agentrt") / "agent" / "prompts" / name).read_text(encoding="utf-8")


def discover_agents_md(cwd: Path, home: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[tuple[Path, str]]:
    """The AGENTS.md notes that apply in ``cwd``, global first, then root to leaf, as (file, text).

    The texts together hold at most ``max_bytes`` bytes of UTF-8; the note that crosses the cap is
    cut there and later ones are dropped. ``max_bytes <= 0`` turns discovery off.
    """
    found: list[tuple[Path, str]] = []
    budget = max_bytes
    for directory in (Path(home), *_project_dirs(Path(cwd))):
        if budget <= 0:
            break
        note = _first_note(directory, budget)
        if note is None:
            continue
        path, text, cut = note
        found.append((path, text))
        if cut:
            break
        budget -= len(text.encode("utf-8"))
    return found


def agents_md_message(cwd: Path, home: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, str] | None:
    """The user-role chat message carrying the AGENTS.md notes for ``cwd``; ``None`` when there are none."""
    notes = discover_agents_md(cwd, home, max_bytes)
    if not notes:
        return None
    body = "\n\n".join(text.strip("\n") for _, text in notes)
    content = f"# AGENTS.md instructions for {cwd}\n\n<INSTRUCTIONS>\n{body}\n</INSTRUCTIONS>"
    return {"role": "user", "content": content}


def _project_dirs(cwd: Path) -> list[Path]:
    """The directories from the git root down to ``cwd``; just ``cwd`` outside a repository."""
    leaf = cwd.absolute()
    root = git_root(leaf)
    if root is None:
        return [leaf]
    chain = [leaf]
    while chain[-1] != root:
        chain.append(chain[-1].parent)
    return chain[::-1]


def _first_note(directory: Path, budget: int) -> tuple[Path, str, bool] | None:
    """The first non-empty note file in ``directory``: its text cut to ``budget`` bytes, and whether it was cut."""
    for name in NOTE_NAMES:
        path = directory / name
        if not path.is_file():
            continue
        try:
            with path.open("rb") as fh:
                data = fh.read(budget + 1)
        except OSError:
            continue
        cut = len(data) > budget
        text = _decode_prefix(data[:budget], cut=cut)
        if text.strip():
            return path, text, cut
    return None


def _decode_prefix(data: bytes, *, cut: bool) -> str:
    """UTF-8 text of ``data``; when it was cut, a character split by the cut is dropped."""
    if cut:
        for trim in range(4):
            try:
                return data[: len(data) - trim].decode("utf-8")
            except UnicodeDecodeError:
                continue
    return data.decode("utf-8", errors="replace")


def environment_context(
    cwd: Path, *, approval_policy: str, sandbox_mode: str, shell: str, today: tuple[str, str] | None = None
) -> str:
    """The user message that tells the agent where it works and under which rules (Codex's shape);
    ``today``: the current date and time zone, which Codex 0.169 adds (parity mode)."""
    dated = (
        ""
        if today is None
        else f"  <current_date>{today[0]}</current_date>\n  <timezone>{today[1]}</timezone>\n"
    )
    return (
        "<environment_context>\n"
        f"  <cwd>{cwd}</cwd>\n  <approval_policy>{approval_policy}</approval_policy>\n"
        f"  <sandbox_mode>{sandbox_mode}</sandbox_mode>\n  <shell>{shell}</shell>\n{dated}"
        "</environment_context>"
    )


_SANDBOX_WORDS = {
    "read-only": "commands may read files anywhere and write nowhere",
    "workspace-write": "commands may read files anywhere and write only in the working directory and the "
    "writable roots below",
    "danger-full-access": "commands run with no sandbox: they may read and write anything",
}
_APPROVAL_WORDS = {
    "never": "Nobody is asked before a command runs: a command the sandbox blocks fails, so work within it "
    "and do not ask to run outside it.",
    "on-request": "To run a command outside the sandbox, set sandbox_permissions to require_escalated and "
    "give a one-sentence justification; the user decides.",
    "on-failure": "Commands run in the sandbox; when it blocks one, the user is asked whether to run it "
    "again outside.",
    "untrusted": "Commands that only read run at once; anything else is shown to the user first.",
}


def permissions_instructions(*, sandbox_mode: str, approval_policy: str, writable_roots: list[str]) -> str:
    """What the sandbox and the approval policy let the agent do: the second developer message that
    Codex 0.169 sends (parity mode), in agentrt's words."""
    roots = f"\nWritable roots: {', '.join(f'`{r}`' for r in writable_roots)}." if writable_roots else ""
    return (
        "<permissions instructions>\n"
        f"The sandbox mode is `{sandbox_mode}`: {_SANDBOX_WORDS.get(sandbox_mode, sandbox_mode)}; "
        f"network access is {'allowed' if sandbox_mode == 'danger-full-access' else 'restricted'}.\n"
        f"The approval policy is `{approval_policy}`. {_APPROVAL_WORDS.get(approval_policy, '')}{roots}\n"
        "</permissions instructions>"
    )
