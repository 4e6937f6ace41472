"""Progress display on TTY and non-TTY streams."""

from __future__ import annotations

import io
import time

from agentrt.bench.progress import Progress
from agentrt.events import TaskFinished


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _result(i: int) -> TaskFinished:
    return TaskFinished(f"t{i}", ("passed", "passed", "failed", "error")[i % 4])


def test_non_tty_prints_a_line_every_ten_percent() -> None:
    out = io.StringIO()
    progress = Progress(20, out, label="humaneval")
    for i in range(20):
        progress.emit(_result(i))
    progress.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("humaneval 2/20 (10%)")
    assert lines[-1].startswith("humaneval 20/20 (100%)")
    assert "passed 10" in lines[-1]
    assert "failed 5" in lines[-1]
    assert "errors 5" in lines[-1]
    assert (progress.done, progress.passed, progress.failed, progress.errors) == (20, 10, 5, 5)


def test_non_tty_close_reports_an_unfinished_run() -> None:
    out = io.StringIO()
    progress = Progress(100, out)
    for i in range(15):
        progress.emit(_result(i))
    progress.close()
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["10/100", "15/100"]
    assert "eta" in lines[-1]


def test_small_totals_print_once_per_step() -> None:
    out = io.StringIO()
    progress = Progress(3, out)
    for i in range(3):
        progress.emit(_result(i))
    progress.close()
    assert [line.split()[0] for line in out.getvalue().splitlines()] == ["1/3", "2/3", "3/3"]


def test_tty_redraws_in_place_and_throttles() -> None:
    out = FakeTTY()
    progress = Progress(1000, out, label="bench")
    for i in range(1000):
        progress.emit(_result(i))
    progress.close()
    text = out.getvalue()
    assert text.startswith("\rbench [")
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert text.count("\r") < 20  # 1000 updates in far less than 2 s: throttled to ~10/s
    final = text.rsplit("\r", 1)[-1]
    assert "1000/1000" in final
    assert "#" * 24 in final


def test_tty_redraw_resumes_after_the_throttle_interval() -> None:
    out = FakeTTY()
    progress = Progress(10, out)
    progress.emit(_result(0))
    progress.emit(_result(1))
    assert out.getvalue().count("\r") == 1
    time.sleep(0.12)
    progress.emit(_result(2))
    assert out.getvalue().count("\r") == 2
    assert "3/10" in out.getvalue().rsplit("\r", 1)[-1]
    progress.close()


def test_disabled_writes_nothing_but_counts() -> None:
    out = FakeTTY()
    progress = Progress(4, out, enabled=False)
    for i in range(4):
        progress.emit(_result(i))
    progress.close()
    assert out.getvalue() == ""
    assert progress.done == 4


def test_a_closed_stream_does_not_break_the_run() -> None:
    out = io.StringIO()
    progress = Progress(2, out)
    out.close()
    progress.emit(_result(0))
    progress.emit(_result(1))
    progress.close()
    assert progress.done == 2


def test_zero_total() -> None:
    out = io.StringIO()
    progress = Progress(0, out)
    progress.close()
    assert out.getvalue() == ""
    tty = FakeTTY()
    progress = Progress(0, tty)
    progress.close()
    assert "0/0" in tty.getvalue()
