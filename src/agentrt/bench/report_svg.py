"""Charts as inline SVG, written here: no plotting library, no script, nothing fetched at view time.

Why not a library: measured here 2026-12-02 (Python 3.11, fresh process each, one 2,000-point line
chart rendered; ``benchmarks/README.md`` has the table): matplotlib (Agg, SVG out) 490 ms and
+60 MiB RSS, ~170 MiB installed with numpy, pillow and fontTools; plotly 160 ms, +38 MiB, 64 MiB
installed, and a page that works offline must embed its 4.7 MiB ``plotly.min.js``; pygal 250 ms,
+11.7 MiB and 543 KiB of SVG per chart, its tooltips a script from a CDN. This module: 23 ms and
+3.7 MiB (agentrt's own imports included; ``report_html`` adds ~10 ms, +0.4 MiB to
``agentrt.bench.report``), 10 KiB per chart, nothing to install. Hover values are SVG ``<title>``
elements, so the page needs no JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
"""Series colours, one per run (saturated, so a screenshot can tell plotted pixels from text)."""

STATUS_COLOURS = {
    "first": "#2ca02c",
    "recovered": "#98df8a",
    "failed": "#d62728",
    "error": "#7f7f7f",
}
"""Outcome cells: passed on attempt 1, passed after a retry, failed, error."""

_MARGIN = (56, 16, 44, 40)  # left, right, top, bottom
_MAX_POINTS = 800


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    colour: str
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Cell:
    """One task in an outcome grid: a ``STATUS_COLOURS`` key and its hover text."""

    status: str
    title: str


@dataclass(frozen=True, slots=True)
class _Frame:
    """Maps data coordinates onto the plot area of a chart."""

    x_max: float
    y_max: float
    width: int
    height: int

    def px(self, x: float) -> float:
        inner = self.width - _MARGIN[0] - _MARGIN[1]
        return _MARGIN[0] + inner * (x / self.x_max)

    def py(self, y: float) -> float:
        inner = self.height - _MARGIN[2] - _MARGIN[3]
        return self.height - _MARGIN[3] - inner * (y / self.y_max)


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Ticks 0, s, 2s, … covering ``high`` with a step s of 1, 2 or 5 times a power of ten."""
    if not high > 0 or not math.isfinite(high):
        high = 1.0
    raw = high / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 5.0, 10.0) if m * magnitude >= raw)
    steps = math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def decimate(points: Sequence[tuple[float, float]], limit: int = _MAX_POINTS) -> list[tuple[float, float]]:
    """At most about ``limit`` points: per bucket of consecutive points, its lowest and highest (peaks survive)."""
    if len(points) <= limit:
        return list(points)
    size = math.ceil(len(points) / (limit // 2))
    kept: list[tuple[float, float]] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        low = min(bucket, key=lambda p: p[1])
        high = max(bucket, key=lambda p: p[1])
        kept.extend(sorted({low, high}, key=lambda p: p[0]))
    return kept


def cdf_points(values: Sequence[float]) -> list[tuple[float, float]]:
    """The empirical distribution of ``values`` as a step line: (value, share of values ≤ it)."""
    ordered = sorted(values)
    n = len(ordered)
    points: list[tuple[float, float]] = []
    for i, value in enumerate(ordered):
        points.append((value, i / n))
        points.append((value, (i + 1) / n))
    return points


def fmt(value: float) -> str:
    """A tick label: no trailing zeros, at most 3 significant decimals."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 260,
    y_max: float | None = None,
) -> str:
    """An SVG line chart of ``series`` on axes starting at 0 (``y_max`` fixes the top, e.g. 1.0); a
    series' name is its hover text (the page shows which colour is which run)."""
    drawn = [s for s in series if s.points]
    xs = [x for s in drawn for x, _ in s.points]
    ys = [y for s in drawn for _, y in s.points]
    x_ticks = nice_ticks(max(xs, default=1.0))
    y_ticks = nice_ticks(y_max if y_max is not None else max(ys, default=1.0))
    frame = _Frame(x_ticks[-1], y_ticks[-1], width, height)
    parts = [_open_svg(title, width, height), _axes(frame, x_ticks, y_ticks, x_label, y_label)]
    parts.extend(_polyline(frame, s) for s in drawn)
    if not drawn:
        parts.append(_text(width / 2, height / 2, "no data recorded", anchor="middle", css="empty"))
    parts.append("</svg>")
    return "".join(parts)


def outcome_grid(cells: Sequence[Cell], *, columns: int = 50, size: int = 11) -> str:
    """One square per task, row by row, coloured by outcome; hovering shows the task."""
    rows = max(1, math.ceil(len(cells) / columns))
    width, height = columns * size, rows * size
    parts = [
        f'<svg class="grid" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img">'
    ]
    for i, cell in enumerate(cells):
        x, y = (i % columns) * size, (i // columns) * size
        colour = STATUS_COLOURS.get(cell.status, "#ffffff")
        parts.append(
            f'<rect x="{x}" y="{y}" width="{size - 1}" height="{size - 1}" fill="{colour}">'
            f"<title>{escape(cell.title)}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _open_svg(title: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>" + _text(4, 16, title, css="title")
    )


def _axes(frame: _Frame, x_ticks: list[float], y_ticks: list[float], x_label: str, y_label: str) -> str:
    left, bottom = frame.px(0), frame.py(0)
    right, top = frame.px(frame.x_max), frame.py(frame.y_max)
    parts = []
    for y in y_ticks:
        py = frame.py(y)
        parts.append(f'<line class="grid" x1="{left:.1f}" y1="{py:.1f}" x2="{right:.1f}" y2="{py:.1f}"/>')
        parts.append(_text(left - 4, py + 4, fmt(y), anchor="end"))
    for x in x_ticks:
        px = frame.px(x)
        parts.append(
            f'<line class="tick" x1="{px:.1f}" y1="{bottom:.1f}" x2="{px:.1f}" y2="{bottom + 4:.1f}"/>'
        )
        parts.append(_text(px, bottom + 16, fmt(x), anchor="middle"))
    parts.append(
        f'<polyline class="axis" points="{left:.1f},{top:.1f} {left:.1f},{bottom:.1f} {right:.1f},{bottom:.1f}"/>'
    )
    parts.append(_text((left + right) / 2, frame.height - 4, x_label, anchor="middle", css="label"))
    parts.append(_text(4, top - 10, y_label, css="label"))
    return "".join(parts)


def _polyline(frame: _Frame, series: Series) -> str:
    coords = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in decimate(series.points))
    return (
        f'<polyline fill="none" stroke="{series.colour}" stroke-width="1.6" points="{coords}">'
        f"<title>{escape(series.name)}</title></polyline>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'
