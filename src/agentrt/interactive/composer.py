"""The composer: where the person types, built on prompt_toolkit.

* Enter sends; Ctrl-J, Alt-Enter (or Shift-Enter where the terminal tells it apart) starts a new line; a bracketed paste is inserted whole, never sent.
* Up/Down walk the prompt history (``history.jsonl``); ``/`` opens the slash-command popup, ``@`` completes
  the repository's file paths.
* While a turn runs the composer stays live (type ahead; what is sent then waits its turn). Esc or
  Ctrl-C interrupts the turn; on an idle composer Ctrl-C clears the text, twice on an empty one quits,
  as does Ctrl-D.
* An approval question takes ``y`` / ``a`` / ``n`` (``agentrt.interactive.approve``).
* The bottom line shows model, sandbox, approvals, context used and the session id.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition, to_filter
from prompt_toolkit.formatted_text import HTML, FormattedText
from prompt_toolkit.history import History
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.styles import Style

from agentrt.agent.approvals import Decision, Refusal
from agentrt.interactive.approve import PromptApprover

QUIT_WINDOW_S = 2.0
"""A second Ctrl-C on an empty composer within this many seconds quits."""
MAX_FILES = 20000

STYLE = Style.from_dict(
    {
        "bottom-toolbar": "noreverse fg:ansibrightblack",
        "prompt": "bold fg:ansicyan",
        "approval": "bold fg:ansiyellow",
        "completion-menu.completion": "bg:ansibrightblack fg:ansiwhite",
        "completion-menu.completion.current": "bg:ansicyan fg:ansiblack",
    }
)


class ComposerHost(Protocol):
    """What the composer needs from the session around it."""

    approver: PromptApprover

    def turn_running(self) -> bool: ...

    def interrupt(self) -> None: ...

    def status_line(self) -> str: ...

    def command_help(self) -> Mapping[str, str]: ...


def build_composer(host: ComposerHost, history: History, cwd: Path) -> PromptSession[str]:
    """The composer's prompt session: key bindings, completions, history and status line."""
    hint = _QuitHint()
    session: PromptSession[str] = PromptSession(
        message=lambda: _message(host),
        multiline=True,
        history=history,
        completer=ComposerCompleter(host.command_help, RepoFiles(cwd)),
        complete_while_typing=True,
        key_bindings=_bindings(host, hint),
        bottom_toolbar=lambda: _toolbar(host, hint),
        style=STYLE,
        refresh_interval=0.5,
        enable_history_search=False,
        erase_when_done=True,
        prompt_continuation=lambda width, line, wrap: " " * width,
    )
    _hug_content(session)
    _shift_enter_is_a_newline()
    session.app.timeoutlen = 0.25  # a lone Esc interrupts after this, not after prompt_toolkit's 1 s
    session.app.ttimeoutlen = 0.05
    return session


SHIFT_ENTER = ("\x1b[13;2u", "\x1b[27;2;13~")
"""How terminals that tell Shift-Enter apart send it (CSI u; xterm's modifyOtherKeys)."""


def _shift_enter_is_a_newline() -> None:
    """Shift-Enter starts a new line where the terminal sends it as its own key (prompt_toolkit's
    table of escape sequences would otherwise read it as Enter, or not at all)."""
    from prompt_toolkit.input.ansi_escape_sequences import ANSI_SEQUENCES
    from prompt_toolkit.keys import Keys

    for sequence in SHIFT_ENTER:
        ANSI_SEQUENCES[sequence] = Keys.ControlJ


def _hug_content(session: PromptSession[str]) -> None:
    """The composer as tall as its text (room for the popup only while it shows), the status line
    right below it — not pushed to the bottom of the terminal."""
    window = session.layout.current_window
    buffer = session.default_buffer

    def height() -> Dimension:
        state = buffer.complete_state
        return Dimension(min=min(8, len(state.completions) + 1)) if state is not None else Dimension()

    window.dont_extend_height = to_filter(True)
    window.height = height


def _message(host: ComposerHost) -> FormattedText:
    pending = host.approver.pending
    if pending is not None and pending.feedback:
        return FormattedText([("class:approval", "what should the agent do instead? › ")])
    if pending is not None:
        return FormattedText([("class:approval", "allow? y / a / n › ")])
    return FormattedText([("class:prompt", "› ")])


def _toolbar(host: ComposerHost, hint: _QuitHint) -> HTML | str:
    if hint.armed():
        return " press Ctrl-C again to quit"
    return " " + host.status_line()


class _QuitHint:
    """Remembers the first Ctrl-C on an empty composer, for the quit window."""

    def __init__(self) -> None:
        self.at = 0.0

    def armed(self) -> bool:
        return time.monotonic() - self.at < QUIT_WINDOW_S


def _bindings(host: ComposerHost, hint: _QuitHint) -> KeyBindings:
    kb = KeyBindings()
    asking = Condition(lambda: host.approver.pending is not None and not host.approver.pending.feedback)
    typing_feedback = Condition(lambda: host.approver.pending is not None and host.approver.pending.feedback)
    running = Condition(host.turn_running)

    @kb.add("y", filter=asking)
    def _yes(event: KeyPressEvent) -> None:
        host.approver.answer(Decision.APPROVED)

    @kb.add("a", filter=asking)
    def _always(event: KeyPressEvent) -> None:
        host.approver.answer(Decision.APPROVED_FOR_SESSION)

    @kb.add("n", filter=asking)
    def _no(event: KeyPressEvent) -> None:
        pending = host.approver.pending
        assert pending is not None
        pending.feedback, pending.draft = True, event.current_buffer.text
        event.current_buffer.reset()

    @kb.add("enter", filter=typing_feedback)
    def _refuse(event: KeyPressEvent) -> None:
        pending = host.approver.pending
        assert pending is not None
        words = event.current_buffer.text
        event.current_buffer.reset(Document(pending.draft))
        host.approver.answer(Refusal(words))

    @kb.add("enter", filter=~typing_feedback)
    def _send(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
            return
        buffer.validate_and_handle()

    @kb.add("c-j")
    @kb.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @kb.add("escape", filter=running)
    def _interrupt(event: KeyPressEvent) -> None:
        host.interrupt()

    @kb.add("c-c")
    def _ctrl_c(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if host.turn_running():
            host.interrupt()
        elif buffer.text:
            buffer.reset()
        elif hint.armed():
            event.app.exit(exception=EOFError())
        else:
            hint.at = time.monotonic()

    @kb.add("c-d", filter=Condition(lambda: not _text_now()))
    def _quit(event: KeyPressEvent) -> None:
        event.app.exit(exception=EOFError())

    return kb


def _text_now() -> str:
    from prompt_toolkit.application import get_app

    return get_app().current_buffer.text


class RepoFiles:
    """The repository's files (tracked and untracked, not ignored), listed once on first use."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self._files: list[str] | None = None

    def __call__(self) -> list[str]:
        if self._files is None:
            self._files = _list_files(self.cwd)
        return self._files


def _list_files(cwd: Path) -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return out.splitlines()[:MAX_FILES]


class ComposerCompleter(Completer):
    """``/`` at the start: the slash commands with their help; ``@word``: repository paths."""

    def __init__(self, commands: Callable[[], Mapping[str, str]], files: Callable[[], list[str]]) -> None:
        self.commands, self.files = commands, files

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if text.startswith("/") and not any(c.isspace() for c in text):
            for name, help_text in sorted(self.commands().items()):
                if name.startswith(text[1:]):
                    yield Completion(f"/{name}", start_position=-len(text), display_meta=help_text)
            return
        word = text.split()[-1] if text and not text[-1].isspace() else ""
        if word.startswith("@"):
            yield from _path_completions(word, self.files())


def _path_completions(word: str, files: list[str]) -> Iterable[Completion]:
    wanted = word[1:].lower()
    starts = [f for f in files if f.lower().startswith(wanted)]
    inside = [f for f in files if wanted in f.lower() and not f.lower().startswith(wanted)]
    for path in (starts + inside)[:50]:
        yield Completion(f"@{path}", start_position=-len(word), display=path)
