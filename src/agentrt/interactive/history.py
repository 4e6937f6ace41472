"""The composer's prompt history, kept as Codex keeps it: ``$AGENTRT_HOME/history.jsonl``.

One JSON object per line, ``{"session_id", "ts", "text"}`` (``ts``: Unix seconds), the file private
to the user (mode 0600). Up/Down in the composer walk it newest first, across sessions. A line that
does not parse is skipped, so a file cut short by a crash still loads.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import History

HISTORY_FILE = "history.jsonl"
MAX_LOADED = 1000
"""Most prompts loaded for Up/Down recall (the newest; the file itself keeps everything)."""


class PromptHistory(History):
    """prompt_toolkit's history backed by ``history.jsonl``; ``session_id`` tags what is stored."""

    def __init__(self, home: Path, session_id: str, *, save: bool = True) -> None:
        super().__init__()
        self.path = Path(home) / HISTORY_FILE
        self.session_id = session_id
        self.save = save
        """``[history] persistence = "none"``: recall this session's prompts, write nothing."""

    def load_history_strings(self) -> Iterable[str]:
        """Newest first, as prompt_toolkit asks."""
        return read_prompts(self.path)[:MAX_LOADED]

    def store_string(self, string: str) -> None:
        if not self.save:
            return
        record = {"session_id": self.session_id, "ts": int(time.time()), "text": string}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)  # one write of one line: appends from two sessions never interleave
        finally:
            os.close(fd)


def read_prompts(path: Path) -> list[str]:
    """The texts of ``path``'s records, newest first; damaged lines skipped, a missing file empty."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    found: list[str] = []
    for raw in data.splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        text = record.get("text") if isinstance(record, dict) else None
        if isinstance(text, str) and text:
            found.append(text)
    found.reverse()
    return found
