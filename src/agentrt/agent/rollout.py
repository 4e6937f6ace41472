"""Session (rollout) files: one append-only JSONL file per agentrt session.

A session lives at ``$AGENTRT_HOME/sessions/YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<id>.jsonl``
(UTC), where ``<id>`` is a time-ordered (v7-layout) UUID. Each line is
``{"timestamp": "...Z", "type": KIND, "payload": {...}}``; the first is ``session_meta``. Lines are
written with one ``os.write`` on an ``O_APPEND`` descriptor, so a killed process can leave at most
a torn last line, which readers skip and ``RolloutWriter.resume`` cuts off.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from agentrt.events import Event, HistoryItem, ModelResponse, TurnCompleted, TurnFailed, UserMessage
from agentrt.git import git_info
from agentrt.messages import Message

SESSIONS_DIR = "sessions"
_PREFIX = "rollout-"
_STAMP_LEN = len("YYYY-MM-DDThh-mm-ss")
_ID_START = len(_PREFIX) + _STAMP_LEN + 1
_SUFFIX = ".jsonl"
# How far into a file listing looks for the first user prompt.
_HEAD_LINES = 64
_HEAD_BYTES = 1 << 20


class SessionError(ValueError):
    """No session, or more than one, matches what was asked for."""


def _now(ns: int | None = None) -> tuple[str, time.struct_time]:
    """A UTC time (default: now) as RFC 3339 with milliseconds and ``Z``, and as a struct."""
    ns = time.time_ns() if ns is None else ns
    parts = time.gmtime(ns // 1_000_000_000)
    ms = (ns // 1_000_000) % 1000
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', parts)}.{ms:03d}Z", parts


def new_session_id(ns: int | None = None) -> str:
    """A UUID with the version-7 layout: 48 bits of Unix milliseconds and 12 bits of sub-millisecond
    time (default: now), so ids sort by creation time, then 62 random bits."""
    ns = time.time_ns() if ns is None else ns
    ms, sub = divmod(ns, 1_000_000)
    fraction = sub * 4096 // 1_000_000
    rand = int.from_bytes(os.urandom(8), "big") & (1 << 62) - 1
    value = (ms & (1 << 48) - 1) << 80 | 0x7 << 76 | fraction << 64 | 0b10 << 62 | rand
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RolloutWriter:
    """Appends the items of one session to its rollout file."""

    def __init__(self, path: Path, session_id: str, fd: int) -> None:
        self.path = path
        self.id = session_id
        self._fd: int | None = fd

    @classmethod
    def create(cls, home: Path, *, cwd: Path, meta: Mapping[str, Any]) -> RolloutWriter:
        """Start a new session file (mode 0600) under ``home/sessions`` and write its ``session_meta``.

        ``meta`` adds to or replaces the standard fields (``instructions``, ``model_provider``,
        ``model``, ``source``...); ``git`` is read from ``cwd``'s repository unless given.
        """
        from agentrt import __version__

        ns = time.time_ns()
        session_id = new_session_id(ns)
        stamp, parts = _now(ns)
        day = Path(home) / SESSIONS_DIR / time.strftime("%Y/%m/%d", parts)
        day.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = day / f"{_PREFIX}{time.strftime('%Y-%m-%dT%H-%M-%S', parts)}-{session_id}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
        payload: dict[str, Any] = {
            "id": session_id,
            "timestamp": stamp,
            "cwd": os.path.abspath(cwd),
            "originator": "agentrt",
            "cli_version": __version__,
            "instructions": None,
            "source": "exec",
            "model_provider": None,
            "model": None,
        }
        git = git_info(Path(cwd))
        if git:
            payload["git"] = git
        payload.update(meta)
        writer = cls(path, session_id, fd)
        writer.append("session_meta", payload)
        return writer

    @classmethod
    def resume(cls, path: Path) -> RolloutWriter:
        """Reopen an existing session file for appending; a torn last line is cut off first."""
        meta = _read_meta(path)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        try:
            _drop_torn_tail(fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(Path(path), str(meta.get("id", "")), fd)

    def append(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Write one line ``{timestamp, type, payload}`` with a single ``os.write``."""
        if self._fd is None:
            raise ValueError(f"rollout {self.path} is closed")
        line = {"timestamp": _now()[0], "type": kind, "payload": payload}
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        """Close the file; further appends raise ``ValueError``. Closing twice is harmless."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> RolloutWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_torn_tail(fd: int) -> None:
    """Truncate a file that does not end in a newline back to just after its last one."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    pos = size
    while pos > 0:
        start = max(0, pos - 65536)
        chunk = os.pread(fd, pos - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        pos = start
    os.ftruncate(fd, 0)


@dataclass
class Rollout:
    """A session read back: its ``session_meta`` payload and every later item as (type, payload)."""

    path: Path
    meta: dict[str, Any]
    items: list[tuple[str, dict[str, Any]]]


def _parse_line(raw: bytes) -> tuple[str, dict[str, Any]]:
    """One rollout line as (type, payload); ``ValueError`` if it is not one."""
    obj = json.loads(raw)
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ValueError("not an object with a string 'type'")
    payload = obj.get("payload")
    if not isinstance(payload, dict):
        raise ValueError("'payload' is not an object")
    return obj["type"], payload


def read_rollout(path: Path) -> Rollout:
    """Read a whole session file. An invalid last line (torn by a crash) is skipped; an invalid
    line anywhere else, or a first line that is not ``session_meta``, raises ``ValueError``."""
    lines = Path(path).read_bytes().split(b"\n")
    numbered = [(n, raw) for n, raw in enumerate(lines, 1) if raw.strip()]
    items: list[tuple[str, dict[str, Any]]] = []
    for index, (number, raw) in enumerate(numbered):
        try:
            items.append(_parse_line(raw))
        except ValueError as exc:
            if index == len(numbered) - 1:
                break
            raise ValueError(f"{path}:{number}: invalid rollout line: {exc}") from None
    if not items or items[0][0] != "session_meta":
        raise ValueError(f"{path}: not a rollout file (the first line is not session_meta)")
    return Rollout(path=Path(path), meta=items[0][1], items=items[1:])


def _read_meta(path: Path) -> dict[str, Any]:
    """The ``session_meta`` payload from the first line of ``path``."""
    with open(path, "rb") as fh:
        first = fh.readline()
    try:
        kind, payload = _parse_line(first)
    except ValueError:
        kind, payload = "", {}
    if kind != "session_meta":
        raise ValueError(f"{path}: not a rollout file (the first line is not session_meta)")
    return payload


@dataclass(frozen=True)
class SessionInfo:
    """One line of a session listing."""

    id: str
    started_at: str
    cwd: str | None
    first_prompt: str | None
    path: Path


def session_files(home: Path) -> Iterator[Path]:
    """Every rollout file under ``home/sessions``, newest first, walking date directories lazily."""
    root = Path(home) / SESSIONS_DIR
    for year in _subdirs(root):
        for month in _subdirs(year):
            for day in _subdirs(month):
                try:
                    names = sorted(
                        (e.name for e in os.scandir(day) if _is_rollout_name(e.name)), reverse=True
                    )
                except OSError:
                    continue
                for name in names:
                    yield day / name


def _subdirs(directory: Path) -> list[Path]:
    """The all-digit subdirectories of ``directory``, largest first."""
    try:
        entries = [e.name for e in os.scandir(directory) if e.name.isdigit() and e.is_dir()]
    except OSError:
        return []
    return [directory / name for name in sorted(entries, key=int, reverse=True)]


def _is_rollout_name(name: str) -> bool:
    return name.startswith(_PREFIX) and name.endswith(_SUFFIX) and len(name) > _ID_START + len(_SUFFIX)


def id_from_path(path: Path) -> str:
    """The session id part of a rollout file name."""
    return path.name[_ID_START : -len(_SUFFIX)]


def session_info(path: Path) -> SessionInfo | None:
    """What a listing shows for one file, from its first lines only; ``None`` if it is not a rollout."""
    try:
        with open(path, "rb") as fh:
            kind, meta = _parse_line(fh.readline())
            if kind != "session_meta":
                return None
            prompt = _first_prompt(fh)
    except (OSError, ValueError):
        return None
    cwd = meta.get("cwd")
    return SessionInfo(
        id=str(meta.get("id") or id_from_path(path)),
        started_at=str(meta.get("timestamp", "")),
        cwd=cwd if isinstance(cwd, str) else None,
        first_prompt=prompt,
        path=path,
    )


def _first_prompt(fh: BinaryIO) -> str | None:
    """The message of the first ``event_msg``/``user_message`` within the head of the file."""
    seen = 0
    for _ in range(_HEAD_LINES):
        raw: bytes = fh.readline()
        if not raw or seen > _HEAD_BYTES:
            break
        seen += len(raw)
        if b'"user_message"' not in raw:
            continue
        try:
            kind, payload = _parse_line(raw)
        except ValueError:
            continue
        message = payload.get("message")
        if kind == "event_msg" and payload.get("type") == "user_message" and isinstance(message, str):
            return message
    return None


def list_sessions(home: Path, *, limit: int = 20, cwd: Path | None = None) -> list[SessionInfo]:
    """Sessions newest first, at most ``limit`` (``<= 0``: all); only those started in ``cwd`` if given.

    Reads the first lines of each file only, and stops walking once ``limit`` are found.
    """
    wanted = None if cwd is None else _real(str(cwd))
    found: list[SessionInfo] = []
    for path in session_files(home):
        if 0 < limit <= len(found):
            break
        info = session_info(path)
        if info is None:
            continue
        if wanted is not None and (info.cwd is None or _real(info.cwd) != wanted):
            continue
        found.append(info)
    return found


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def find_session(
    home: Path, session_id: str | None = None, *, last: bool = False, cwd: Path | None = None
) -> Path:
    """The rollout file of a session: by full id, unique id prefix or file path, or with
    ``last=True`` the newest one (started in ``cwd`` if given). ``SessionError`` if none or ambiguous.
    """
    if session_id:
        return _find_by_id(home, session_id)
    if not last:
        raise SessionError("name a session id (or a unique prefix of one), or ask for the last session")
    newest = list_sessions(home, limit=1, cwd=cwd)
    if not newest:
        where = f" started in {cwd}" if cwd is not None else ""
        raise SessionError(f"no sessions{where} under {Path(home) / SESSIONS_DIR}")
    return newest[0].path


def _find_by_id(home: Path, session_id: str) -> Path:
    as_path = Path(session_id)
    if session_id.endswith(_SUFFIX) and as_path.is_file():
        return as_path
    wanted = session_id.strip().lower()
    matches: list[Path] = []
    for path in session_files(home):
        found = id_from_path(path).lower()
        if found == wanted:
            return path
        if found.startswith(wanted):
            matches.append(path)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SessionError(f"no session with id {session_id!r} under {Path(home) / SESSIONS_DIR}")
    shown = ", ".join(id_from_path(p) for p in matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise SessionError(
        f"session id {session_id!r} is ambiguous: it starts {len(matches)} session ids ({shown}); "
        "give more of it"
    )


class RolloutSink:
    """An ``EventSink`` that records a thread's events in its rollout file, in Codex's line kinds:
    history items as ``response_item``, the prompt, token counts, the answer and an abort as ``event_msg``."""

    def __init__(self, writer: RolloutWriter) -> None:
        self.writer = writer

    def emit(self, event: Event) -> None:
        line = _rollout_line(event)
        if line is not None:
            self.writer.append(*line)


def _rollout_line(event: Event) -> tuple[str, Mapping[str, Any]] | None:
    if isinstance(event, HistoryItem):
        return "response_item", event.message
    if isinstance(event, UserMessage):
        return "event_msg", {"type": "user_message", "message": event.text}
    if isinstance(event, ModelResponse):
        return "event_msg", {"type": "token_count", "info": event.turn_usage.as_dict()}
    if isinstance(event, TurnCompleted):
        return "event_msg", {"type": "agent_message", "message": event.final}
    if isinstance(event, TurnFailed):
        return "event_msg", {"type": "turn_aborted", "reason": event.reason, "message": event.message}
    return None


def history_from_rollout(items: list[tuple[str, dict[str, Any]]]) -> list[Message]:
    """The model history a rollout recorded, ready to continue.

    A tool call whose output was never recorded (the process died while the tool ran) gets an
    output saying so, because an API refuses a history with an unanswered call.
    """
    messages: list[Message] = []
    pending: dict[str, str] = {}
    for kind, payload in items:
        if kind != "response_item":
            continue
        if payload.get("role") != "tool":
            _answer_missing(messages, pending)
        messages.append(payload)
        for call in payload.get("tool_calls") or ():
            pending[call["id"]] = call["function"]["name"]
        if payload.get("role") == "tool":
            pending.pop(payload.get("tool_call_id", ""), None)
    _answer_missing(messages, pending)
    return messages


def _answer_missing(messages: list[Message], pending: dict[str, str]) -> None:
    for call_id, name in pending.items():
        note = f"error: the session ended while {name} was running; its result is unknown"
        messages.append({"role": "tool", "tool_call_id": call_id, "content": note})
    pending.clear()
