"""Choosing a session to resume: this directory's sessions (or every directory's), newest first."""

from __future__ import annotations

from pathlib import Path

from agentrt.agent.rollout import SessionInfo, count_turns, list_sessions

PICKER_LIMIT = 30


def session_choices(home: Path, cwd: Path | None, *, but: str | None = None) -> list[tuple[str, str]]:
    """``(session id, label)`` per session that had a prompt, newest first, but not session ``but``;
    ``cwd=None``: every directory's."""
    found = [
        info
        for info in list_sessions(home, limit=PICKER_LIMIT, cwd=cwd)
        if info.first_prompt is not None and info.id != but
    ]
    return [(info.id, session_label(info, count_turns(info.path), with_cwd=cwd is None)) for info in found]


def session_label(info: SessionInfo, turns: int, *, with_cwd: bool) -> str:
    """One picker line: when, how many turns, the first prompt (and the directory, across directories)."""
    prompt = " ".join((info.first_prompt or "(no prompt)").split())
    if len(prompt) > 60:
        prompt = prompt[:59] + "…"
    place = f"  {info.cwd}" if with_cwd and info.cwd else ""
    noun = "turn" if turns == 1 else "turns"
    return f"{info.started} UTC  {turns:>3} {noun:<5}  {prompt}{place}"


async def pick_session(home: Path, cwd: Path | None, *, but: str | None = None) -> str | None:
    """Ask which session to resume (arrows or its number, Enter); ``None`` when there is none or on Ctrl-C."""
    from prompt_toolkit.shortcuts.choice_input import ChoiceInput

    choices = session_choices(home, cwd, but=but)
    if not choices:
        return None
    where = "in this directory" if cwd is not None else "in any directory"
    ask: ChoiceInput[str] = ChoiceInput(
        message=f"Resume which session ({where}, newest first)? Enter picks, Ctrl-C cancels:",
        options=choices,
    )
    try:
        return await ask.prompt_async()
    except (KeyboardInterrupt, EOFError):
        return None
