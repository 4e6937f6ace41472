"""Session (rollout) files: one append-only JSONL file per agentrt session.

A session lives at ``$AGENTRT_HOME/sessions/YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<id>.jsonl``
(UTC), where ``<id>`` is a time-ordered (v7-layout) UUID. Each line is
``{"timestamp": "...Z", "type": KIND, "payload": {...}}``; the first is ``session_meta``. Lines are
written with one ``os.write`` on an ``O_APPEND`` descriptor, so a killed process can leave at most
a torn last line (no newline), which readers skip and ``RolloutWriter.resume`` cuts off.

Any other damage (a newline-terminated line that is not a rollout line, at the end or in the
middle) is handled the same way wherever it is: the lines before the first bad one are the session,
readers stop there (``Rollout.damage`` says why), and ``RolloutWriter.resume`` moves everything from
the bad line on into a sibling file ``<name>.damaged-<UTC time>`` before appending, so nothing is
ever written after garbage and nothing is lost. Later valid lines are not spliced back in: a hole in
the middle of a history (a tool call without its output, say) is worse than a shorter history.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from agentrt.events import (
    ContextCompacted,
    Event,
    GuardianAssessment,
    HistoryItem,
    ItemCompleted,
    ModelResponse,
    TokenUsage,
    TurnCompleted,
    TurnFailed,
    UserMessage,
)
from agentrt.git import git_info
from agentrt.messages import Message
from agentrt.model.responses import append_item, message_items

SESSIONS_DIR = "sessions"
_PREFIX = "rollout-"
_STAMP_LEN = len("YYYY-MM-DDThh-mm-ss")
_ID_START = len(_PREFIX) + _STAMP_LEN + 1
_SUFFIX = ".jsonl"
# How far into a file listing looks for the first user prompt.
_HEAD_LINES = 64
_HEAD_BYTES = 1 << 20


class SessionError(ValueError):
    """No session, or more than one, matches what was asked for; or its file cannot be used.

    Its text is one line for the user (naming the file and line where one is at fault).
    """


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
        self.note: str | None = None
        """Set by ``resume`` when it set damaged lines aside: one line for the user."""

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
        """Reopen an existing session file for appending, first cutting it back to its valid lines.

        A torn last line is dropped; anything else after the valid lines is moved to a sibling
        ``.damaged-<time>`` file and ``note`` says so (the caller shows it). ``SessionError`` if
        the file cannot be read or is not a rollout.
        """
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            raise SessionError(f"cannot read session file {path}: {exc.strerror or exc}") from None
        try:
            scan = _scan(Path(path), _read_fd(fd))
            note = _repair(Path(path), fd, scan)
        except BaseException:
            os.close(fd)
            raise
        writer = cls(Path(path), str(scan.meta.get("id", "")), fd)
        writer.note = note
        return writer

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


def _read_fd(fd: int) -> bytes:
    """The whole file behind ``fd``, read from offset 0."""
    chunks: list[bytes] = []
    pos = 0
    while chunk := os.pread(fd, 1 << 20, pos):
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def _repair(path: Path, fd: int, scan: _Scan) -> str | None:
    """Make the file end just after its valid lines, so appends follow them; a note if lines moved.

    A valid last line without its newline gets one; a torn one is cut. Other damage is copied to
    the sibling file (synced) before the cut, so a crash in between duplicates rather than loses it.
    """
    rest = scan.data[scan.end :]
    if scan.damage is not None:
        aside = _set_aside(path, rest)
        os.ftruncate(fd, scan.end)
        count = rest.count(b"\n") + (not rest.endswith(b"\n"))
        return (
            f"{scan.damage}; moved it and what follows ({count} line{'s' * (count != 1)}, "
            f"{len(rest)} bytes) to {aside}; the session continues after line {scan.last_line}"
        )
    if rest:
        os.ftruncate(fd, scan.end)
    elif not scan.data.endswith(b"\n"):
        os.write(fd, b"\n")
    return None


def _set_aside(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new sibling ``<name>.damaged-<UTC time>[-N]`` (mode 0600), synced."""
    stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime())
    for n in itertools.count():
        aside = path.with_name(f"{path.name}.damaged-{stamp}" + (f"-{n}" if n else ""))
        try:
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        return aside
    raise AssertionError("unreachable")


@dataclass
class Rollout:
    """A session read back: its ``session_meta`` payload and every later item as (type, payload).

    ``lines`` holds each item's line number in the file. ``damage`` is set when the file has an
    invalid line that is not a torn last one: it names the file and line, and ``items`` stop there.
    """

    path: Path
    meta: dict[str, Any]
    items: list[tuple[str, dict[str, Any]]]
    lines: list[int]
    damage: str | None = None


def _parse_line(raw: bytes) -> tuple[str, dict[str, Any]]:
    """One rollout line as (type, payload); ``ValueError`` if it is not one.

    The bytes are decoded as UTF-8 first (``json.loads`` would guess UTF-16/32 from bytes), and a
    nesting too deep for the parser counts as invalid, not as a crash.
    """
    try:
        obj = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ValueError("not an object with a string 'type'")
    payload = obj.get("payload")
    if not isinstance(payload, dict):
        raise ValueError("'payload' is not an object")
    return obj["type"], payload


@dataclass(frozen=True)
class _Scan:
    """What of a rollout file's bytes can be used: ``data[:end]`` holds its valid lines.

    ``damage`` is set when ``data[end:]`` starts with a newline-terminated invalid line; without
    it, ``data[end:]`` is empty or a torn last line.
    """

    data: bytes
    meta: dict[str, Any]
    items: list[tuple[str, dict[str, Any]]]
    lines: list[int]
    end: int
    last_line: int
    damage: str | None


def _scan(path: Path, data: bytes) -> _Scan:
    """Parse lines until the first invalid one; ``SessionError`` unless the first is ``session_meta``.

    Readers and ``resume`` share this, so a resumed session continues exactly the history read.
    """
    items: list[tuple[str, dict[str, Any]]] = []
    lines: list[int] = []
    pos = number = 0
    damage = None
    while pos < len(data):
        stop = data.find(b"\n", pos) + 1 or len(data)
        number += 1
        if data[pos:stop].strip():
            try:
                items.append(_parse_line(data[pos:stop]))
            except ValueError as exc:
                if data.endswith(b"\n") or stop < len(data):
                    damage = f"{path}:{number}: invalid rollout line: {exc}"
                break
            lines.append(number)
        pos = stop
    if not items or items[0][0] != "session_meta":
        raise SessionError(f"{path}: not a rollout file (the first line is not session_meta)")
    last = number - 1 if pos < len(data) else number
    return _Scan(data, items[0][1], items[1:], lines[1:], pos, last, damage)


def read_rollout(path: Path) -> Rollout:
    """Read a whole session file: its valid lines, up to a torn last line or the first invalid one
    (then ``damage`` says which). ``SessionError`` if it cannot be read or is not a rollout."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SessionError(f"cannot read session file {path}: {exc.strerror or exc}") from None
    scan = _scan(Path(path), data)
    damage = None
    if scan.damage is not None:
        damage = f"{scan.damage}; only the lines before it are used"
    return Rollout(path=Path(path), meta=scan.meta, items=scan.items, lines=scan.lines, damage=damage)


@dataclass(frozen=True)
class SessionInfo:
    """One line of a session listing."""

    id: str
    started_at: str
    cwd: str | None
    first_prompt: str | None
    path: Path
    parent: str | None = None
    """The thread that spawned this one (a sub-agent's session), else ``None``."""

    @property
    def started(self) -> str:
        """``2025-01-02T03:04:05.678Z`` as ``2025-01-02 03:04:05`` (UTC)."""
        stamp = self.started_at
        return stamp[:19].replace("T", " ") if len(stamp) >= 19 else stamp


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
    cwd, parent = meta.get("cwd"), meta.get("parent_thread_id")
    return SessionInfo(
        id=str(meta.get("id") or id_from_path(path)),
        started_at=str(meta.get("timestamp", "")),
        cwd=cwd if isinstance(cwd, str) else None,
        first_prompt=prompt,
        path=path,
        parent=parent if isinstance(parent, str) else None,
    )


def _first_prompt(fh: BinaryIO) -> str | None:
    """The first prompt within the head of the file: an ``event_msg``/``user_message``, or (a Codex
    session records its prompts only as items) a user ``message`` item that is not context."""
    seen = 0
    for _ in range(_HEAD_LINES):
        raw: bytes = fh.readline()
        if not raw or seen > _HEAD_BYTES:
            break
        seen += len(raw)
        if b'"user_message"' not in raw and b'"user"' not in raw:
            continue
        try:
            kind, payload = _parse_line(raw)
        except ValueError:
            continue
        found = _prompt_of(kind, payload)
        if found is not None:
            return found
    return None


def _prompt_of(kind: str, payload: Mapping[str, Any]) -> str | None:
    from agentrt.agent.instructions import CONTEXT_PREFIXES

    message = payload.get("message")
    if kind == "event_msg" and payload.get("type") == "user_message" and isinstance(message, str):
        return message
    if kind != "response_item" or payload.get("type") != "message" or payload.get("role") != "user":
        return None
    parts = payload.get("content")
    text = "".join(p.get("text", "") for p in parts if isinstance(p, dict)) if isinstance(parts, list) else ""
    return text if text and not text.startswith(CONTEXT_PREFIXES) and "<turn_aborted>" not in text else None


def count_turns(path: Path) -> int:
    """How many user turns a session has had (its ``user_message`` lines); 0 if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            lines = [raw for raw in fh if b'"user_message"' in raw]
    except OSError:
        return 0
    turns = 0
    for raw in lines:
        try:
            kind, payload = _parse_line(raw)
        except ValueError:
            continue
        turns += kind == "event_msg" and payload.get("type") == "user_message"
    return turns


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
    newest = newest_answered(home, cwd)
    if newest is None:
        where = f" started in {cwd}" if cwd is not None else ""
        raise SessionError(f"no session{where} that got an answer under {Path(home) / SESSIONS_DIR}")
    return newest


def newest_answered(home: Path, cwd: Path | None) -> Path | None:
    """The newest session (started in ``cwd`` if given) in which the model answered at least once: a
    session that never reached its model is nothing to continue. A sub-agent's session is reached
    through its parent's, never as the newest."""
    wanted = None if cwd is None else _real(str(cwd))
    for path in session_files(home):
        info = session_info(path)
        if info is None or info.parent is not None:
            continue
        if wanted is not None and (info.cwd is None or _real(info.cwd) != wanted):
            continue
        if _got_answer(path):
            return path
    return None


def _got_answer(path: Path) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return b'"token_count"' in data or b'"role":"assistant"' in data or b'"role": "assistant"' in data


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
    history items as ``response_item``; the prompt, token counts, guardian verdicts, the answer and an
    abort as ``event_msg``."""

    def __init__(self, writer: RolloutWriter) -> None:
        self.writer = writer

    def emit(self, event: Event) -> None:
        if isinstance(event, HistoryItem):
            append_message(self.writer, event.message)
            return
        line = _rollout_line(event)
        if line is not None:
            self.writer.append(*line)
        if isinstance(event, TurnCompleted) and event.costed:
            self.writer.append("event_msg", _cost_line(event))


def append_message(writer: RolloutWriter, message: Mapping[str, Any]) -> None:
    """One history message as ``response_item`` lines in Codex's shape (Responses items)."""
    for item in message_items(dict(message)):
        writer.append("response_item", item)


def _rollout_line(event: Event) -> tuple[str, Mapping[str, Any]] | None:
    if isinstance(event, UserMessage):
        return "event_msg", {"type": "user_message", "message": event.text}
    if isinstance(event, ModelResponse):
        return "event_msg", {"type": "token_count", "info": _token_info(event)}
    if isinstance(event, ContextCompacted):
        items = [item for message in event.history for item in message_items(dict(message))]
        return "compacted", {"message": event.summary, "replacement_history": items}
    if isinstance(event, TurnCompleted):
        return "event_msg", {"type": "agent_message", "message": event.final}
    if isinstance(event, TurnFailed):
        return "event_msg", {"type": "turn_aborted", "reason": event.reason, "message": event.message}
    if isinstance(event, ItemCompleted) and isinstance(event.item, GuardianAssessment):
        return "event_msg", _guardian_line(event.item)
    return None


def _guardian_line(item: GuardianAssessment) -> dict[str, Any]:
    """A guardian verdict as Codex records one (``guardian_assessment``; fields it lacks are left out)."""
    line: dict[str, Any] = {"type": "guardian_assessment", "id": item.id, "status": item.status}
    if item.risk_level is not None:
        line["risk_level"] = item.risk_level
    if item.user_authorization is not None:
        line["user_authorization"] = item.user_authorization
    line["rationale"] = item.rationale
    line["action"] = {"type": "command", "source": "shell", "command": item.command, "cwd": item.cwd}
    return line


COST_LINE = "turn_cost"
"""The ``event_msg`` type of the line after each completed turn when cost tracking is on (an agentrt
extension; Codex reads past it): ``turn_cost_usd``, ``session_cost_usd`` (``null``: no known price)."""


def _cost_line(event: TurnCompleted) -> dict[str, Any]:
    return {"type": COST_LINE, "turn_cost_usd": event.turn_cost_usd, "session_cost_usd": event.cost_usd}


def session_cost(path: Path, tail_bytes: int = 256 * 1024) -> tuple[bool, float | None]:
    """``(tracked, cost)`` of a session so far: its last ``turn_cost`` line within the file's tail
    (``tracked`` False when there is none: cost tracking was off, or no turn completed)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - tail_bytes))
            lines = fh.read().splitlines()
    except OSError:
        return False, None
    marker = f'"{COST_LINE}"'.encode()
    for raw in reversed(lines):
        if marker not in raw:
            continue
        try:
            kind, payload = _parse_line(raw)
        except ValueError:
            continue
        if kind == "event_msg" and payload.get("type") == COST_LINE:
            cost = payload.get("session_cost_usd")
            return True, float(cost) if isinstance(cost, int | float) else None
    return False, None


def _token_info(event: ModelResponse) -> dict[str, Any]:
    """A ``token_count`` line's ``info`` as Codex writes it: the turn's totals, the last request's, the window."""
    turn = event.turn_usage
    last = {
        "input_tokens": event.prompt_tokens,
        "cached_input_tokens": event.cached_tokens,
        "cache_write_input_tokens": 0,
        "output_tokens": event.completion_tokens,
        "reasoning_output_tokens": 0,
        "total_tokens": event.prompt_tokens + event.completion_tokens,
    }
    total = {**turn.as_dict(), "total_tokens": turn.total}
    return {
        "total_token_usage": total,
        "last_token_usage": last,
        "model_context_window": event.context_window,
    }


def spent_in(rollout: Rollout) -> TokenUsage:
    """The session's token usage so far: its last ``token_count`` line's ``total_token_usage``."""
    for kind, payload in reversed(rollout.items):
        info = payload.get("info") if kind == "event_msg" and payload.get("type") == "token_count" else None
        total = info.get("total_token_usage") if isinstance(info, dict) else None
        if isinstance(total, dict):
            numbers = [total.get(k, 0) for k in ("input_tokens", "cached_input_tokens", "output_tokens")]
            if all(isinstance(n, int) for n in numbers):
                return TokenUsage(numbers[0], numbers[1], numbers[2], bool(total.get("counted", False)))
    return TokenUsage()


def history_from_rollout(
    source: Rollout | Sequence[tuple[str, dict[str, Any]]],
) -> list[Message]:
    """The model history a rollout recorded, ready to continue.

    ``response_item`` lines are Responses items, as Codex writes them (a Codex session resumes here
    with its messages, calls and outputs), or — in files written by earlier agentrt versions —
    chat-shaped messages; a ``compacted`` line replaces everything before it. A tool call whose output
    was never recorded (the process died while the tool ran) gets an output saying so, because an API
    refuses a history with an unanswered call. A recorded message of the wrong shape raises
    ``SessionError`` naming it (``file:line`` when given a ``Rollout``, else ``rollout item N``).
    """
    if isinstance(source, Rollout):
        items, places = source.items, [f"{source.path}:{n}" for n in source.lines]
    else:
        items, places = list(source), [f"rollout item {n}" for n in range(1, len(source) + 1)]
    messages: list[Message] = []
    for (kind, payload), place in zip(items, places, strict=True):
        if kind == "compacted" and isinstance(payload.get("replacement_history"), list):
            messages = []
            for entry in payload["replacement_history"]:
                _take(messages, entry, place)
        elif kind == "response_item":
            _take(messages, payload, place)
    return _answered(messages)


def _take(messages: list[Message], entry: object, place: str) -> None:
    """Add one recorded entry: a Responses item (has ``type``) or an earlier version's chat message."""
    if not isinstance(entry, dict):
        raise SessionError(f"{place}: cannot resume from this recorded item: not an object")
    if "type" in entry:
        append_item(messages, entry)
        return
    problem = _message_problem(entry)
    if problem is not None:
        raise SessionError(f"{place}: cannot resume from this recorded message: {problem}")
    messages.append(dict(entry))


def _answered(messages: list[Message]) -> list[Message]:
    """``messages`` with an output added for every call that has none, where the API expects it."""
    out: list[Message] = []
    pending: dict[str, str] = {}
    for message in messages:
        if message["role"] != "tool":
            _answer_missing(out, pending)
        out.append(message)
        for call in message.get("tool_calls") or ():
            pending[call["id"]] = call["function"]["name"]
        if message["role"] == "tool":
            pending.pop(message["tool_call_id"], None)
    _answer_missing(out, pending)
    return out


def _message_problem(message: Mapping[str, Any]) -> str | None:
    """What is wrong with a recorded message's shape, as far as continuing it needs; ``None`` if fine."""
    if not isinstance(message.get("role"), str):
        return "no string 'role'"
    if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
        return "a tool result without a string 'tool_call_id'"
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        return "'tool_calls' is not a list"
    for index, call in enumerate(calls):
        problem = _call_problem(call)
        if problem is not None:
            return f"tool call {index}: {problem}"
    return None


def _call_problem(call: object) -> str | None:
    if not isinstance(call, dict):
        return "not an object"
    if not isinstance(call.get("id"), str):
        return "no string 'id'"
    function = call.get("function")
    if not isinstance(function, dict):
        return "no 'function' object"
    if not isinstance(function.get("name"), str):
        return "no string 'function.name'"
    return None


def _answer_missing(messages: list[Message], pending: dict[str, str]) -> None:
    for call_id, name in pending.items():
        note = f"error: the session ended while {name} was running; its result is unknown"
        messages.append({"role": "tool", "tool_call_id": call_id, "content": note})
    pending.clear()
