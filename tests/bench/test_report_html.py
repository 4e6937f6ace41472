"""The HTML report of benchmark runs: its charts, its data, and the page as a browser renders it."""

from __future__ import annotations

import csv
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from agentrt.bench.report import TIMELINE_COLUMNS, summarize, timeline_path, write_results
from agentrt.bench.report_html import find_summaries, load_run, render_report, write_report
from agentrt.bench.report_svg import (
    PALETTE,
    Cell,
    Series,
    cdf_points,
    decimate,
    line_chart,
    nice_ticks,
    outcome_grid,
)
from agentrt.bench.result import TaskResult
from agentrt.bench.telemetry import ResourceReport, Sample


def make_results(n: int, *, failing: int = 0) -> list[TaskResult]:
    results = []
    for i in range(n):
        passed = i >= failing
        results.append(
            TaskResult(
                f"T/{i}", "passed" if passed else "failed", attempts=1 if i % 3 else 2,
                first_attempt_pass=passed and i % 3 != 0, wall_s=0.5 + i * 0.1,
                model_s=0.1 + i * 0.01, ttft_s=0.01, test_s=0.3 + i * 0.05,
            )
        )  # fmt: skip
    return results


def make_run(out: Path, n: int, *, stamp: str, peak: float, failing: int = 0) -> Path:
    """A run's files as the runner writes them; the timeline ramps the children up to ``peak`` MiB."""
    results = make_results(n, failing=failing)
    timeline = tuple(
        Sample(t * 0.1, 28.0 + t * 0.01, peak * min(t, 40 - t) / 20, min(t, 40 - t)) for t in range(41)
    )
    resources = ResourceReport(30.0, peak, 20, 0.5, 4.0, timeline)
    summary = summarize(results, resources=resources, wall_s=4.0, meta={"agent": "loop", "executor": "fork"})
    summary["started_at"] = stamp
    return write_results(out, results, summary, stamp=stamp, timeline=timeline)[1]


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    for high in (0.003, 0.9, 1.0, 7.3, 42.0, 1234.5, 2e6):
        ticks = nice_ticks(high)
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** int(f"{step:e}".split("e")[1])
        assert ticks[0] == 0 and ticks[-1] >= high and ticks[-2] < high
        assert round(mantissa, 6) in (1.0, 2.0, 5.0), (high, ticks)
        assert 3 <= len(ticks) <= 12
    assert nice_ticks(0.0) == nice_ticks(1.0)


def test_decimate_bounds_the_points_and_keeps_every_peak() -> None:
    points = [(float(i), float((i * 7919) % 1000)) for i in range(10_000)]
    points[6_543] = (6_543.0, 5_000.0)
    kept = decimate(points, 800)
    assert len(kept) <= 800
    assert max(y for _, y in kept) == 5_000.0 and min(y for _, y in kept) == 0.0
    assert [x for x, _ in kept] == sorted(x for x, _ in kept)
    assert decimate(points[:10], 800) == points[:10]


def test_cdf_points_rise_from_0_to_1_in_order() -> None:
    values = [3.0, 1.0, 2.0, 2.0]
    points = cdf_points(values)
    assert points[0] == (1.0, 0.0) and points[-1] == (3.0, 1.0)
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    assert [y for _, y in points] == sorted(y for _, y in points)
    assert cdf_points([]) == []


def test_line_chart_draws_each_series_and_escapes_text() -> None:
    svg = line_chart(
        [Series("<a&b>", PALETTE[0], [(0.0, 1.0), (2.0, 3.0)]), Series("empty", PALETTE[1], [])],
        title="t<1>",
        x_label="s",
        y_label="MiB",
    )
    assert svg.count('<polyline fill="none"') == 1
    assert "&lt;a&amp;b&gt;" in svg and "t&lt;1&gt;" in svg and "<a&b>" not in svg
    assert "no data recorded" in line_chart([], title="x", x_label="s", y_label="y")


def test_outcome_grid_has_one_square_per_task() -> None:
    cells = [Cell("first", "a"), Cell("recovered", "b"), Cell("failed", "c"), Cell("error", "d<")] * 30
    svg = outcome_grid(cells, columns=50)
    assert svg.count("<rect ") == 120 and "d&lt;" in svg


def test_timeline_file_is_written_beside_the_summary(tmp_path: Path) -> None:
    summary_path = make_run(tmp_path, 5, stamp="20260101T000000Z", peak=100.0)
    with timeline_path(summary_path).open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == TIMELINE_COLUMNS and len(rows) == 41
    assert max(float(r["children_rss_mib"]) for r in rows) == 100.0
    run = load_run(summary_path)
    assert len(run.rows) == 5 and len(run.timeline) == 41
    assert run.label == f"{tmp_path.name} · loop/fork · 20260101T000000Z"


def test_find_summaries_takes_the_newest_run_of_a_directory_or_a_file(tmp_path: Path) -> None:
    old = make_run(tmp_path / "a", 3, stamp="20260101T000000Z", peak=10.0)
    new = make_run(tmp_path / "a", 3, stamp="20260102T000000Z", peak=10.0)
    assert find_summaries([tmp_path / "a", tmp_path / "a" / "raw", old]) == [new, new, old]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no benchmark run in"):
        find_summaries([tmp_path / "empty"])


def test_report_shows_every_run_its_numbers_and_its_tasks(tmp_path: Path) -> None:
    first = load_run(make_run(tmp_path / "fork", 12, stamp="20260101T000000Z", peak=300.0, failing=2))
    second = load_run(make_run(tmp_path / "spawn", 7, stamp="20260101T000001Z", peak=900.0))
    page = render_report([first, second])
    assert first.label in page and second.label in page
    assert "10/12 (83.3%)" in page and "7/7 (100.0%)" in page
    assert "300.0 MiB (20)" in page and "900.0 MiB (20)" in page
    # 2 runs x (3 timeline charts + 4 latency charts) data lines, one square per task
    assert page.count('<polyline fill="none"') == 14
    assert page.count("<rect ") == 12 + 7
    assert "2 failed" in page and "T/0: failed" in page
    assert "<script" not in page.lower()
    external = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page) + re.findall(r"url\(([^)]*)\)", page)
    assert external == []


def test_report_says_what_a_bare_summary_lacks(tmp_path: Path) -> None:
    path = make_run(tmp_path / "r", 4, stamp="20260101T000000Z", peak=50.0)
    bare = tmp_path / "bare_summary.json"
    shutil.copy(path, bare)
    page = render_report([load_run(path), load_run(bare)])
    assert "no timeline recorded for: " in page and "no per-task CSV recorded for: " in page
    assert page.count('<polyline fill="none"') == 7


def test_report_says_prompt_tokens_not_reported_rather_than_zero(tmp_path: Path) -> None:
    results = make_results(3)
    for r in results:
        r.completion_tokens = 40  # a server whose stream reports no usage: prompt tokens stay 0
    summary = summarize(results, resources=None, wall_s=1.0, meta={"agent": "loop"})
    path = write_results(tmp_path, results, summary, stamp="20260101T000000Z")[1]
    page = render_report([load_run(path)])
    assert "not reported / 120" in page and "0 / 120" not in page


def test_unreadable_summary_is_a_value_error(tmp_path: Path) -> None:
    bad = tmp_path / "x_summary.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a benchmark summary"):
        load_run(bad)
    with pytest.raises(ValueError, match="at least one run"):
        render_report([])


# --- the page in a browser -------------------------------------------------------------------------

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)"
)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG: chunks, zlib, unfiltering."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        unfilter(kind, line, prev, bpp)
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + a) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + b) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (a + b) // 2) & 0xFF
        elif kind == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF


def coloured_pixels(png: bytes) -> int:
    """Pixels far from grey (max - min channel > 80): plotted lines and outcome squares, not text."""
    width, _, rows = png_pixels(png)
    count = 0
    for row in rows:
        step = len(row) // width
        for i in range(0, len(row), step):
            r, g, b = row[i], row[i + 1], row[i + 2]
            if max(r, g, b) - min(r, g, b) > 80:
                count += 1
    return count


def render_in_chromium(page: Path, tmp_path: Path) -> tuple[bytes, str]:
    """A headless Chromium screenshot of ``page`` and its log (console messages included)."""
    assert CHROMIUM is not None
    shot = tmp_path / "shot.png"
    argv = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0"]
    argv += [f"--user-data-dir={tmp_path / 'profile'}", "--window-size=900,1300", f"--screenshot={shot}"]
    done = subprocess.run([*argv, page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists(), done.stderr[-2000:]
    return shot.read_bytes(), done.stderr


def console_errors(log: str) -> list[str]:
    return [ln for ln in log.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]


@needs_chromium
def test_chromium_renders_the_report_with_no_console_error_and_visible_plots(tmp_path: Path) -> None:
    runs = [
        load_run(make_run(tmp_path / f"r{i}", 40, stamp=f"2026010{i}T000000Z", peak=200.0 * (i + 1)))
        for i in range(2)
    ]
    page = write_report(runs, tmp_path / "report.html")
    png, log = render_in_chromium(page, tmp_path)
    assert console_errors(log) == []
    plotted = coloured_pixels(png)
    blank = tmp_path / "blank.html"
    blank.write_text(
        "<!DOCTYPE html><html><body><h1>agentrt benchmark report</h1><p>no charts</p></body></html>"
    )
    assert coloured_pixels(render_in_chromium(blank, tmp_path)[0]) == 0
    assert plotted > 2_000, plotted  # lines in 2 colours across the charts in view


@needs_chromium
def test_the_chromium_check_sees_a_console_error(tmp_path: Path) -> None:
    """The console check is not vacuous: a page whose script throws is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefinedFunction()</script></body></html>")
    _, log = render_in_chromium(page, tmp_path)
    assert console_errors(log), log[-2000:]


def test_write_report_replaces_the_file_whole(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path, 3, stamp="20260101T000000Z", peak=10.0))
    target = tmp_path / "out.html"
    target.write_text("old")
    write_report([run], target)
    text = target.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not list(tmp_path.glob(".out.html*"))
    assert json.loads(run.source.read_text())["tasks"] == 3
