#!/bin/bash
# Reference solution: sort, then sweep.
set -euo pipefail
cat > /app/intervals.py <<'PY'
"""Half-open integer intervals: merging and coverage."""


def merge_intervals(intervals):
    """Union of half-open [start, end) intervals as sorted, disjoint, non-touching (start, end) tuples."""
    pairs = [(int(s), int(e)) for s, e in intervals]
    for s, e in pairs:
        if s > e:
            raise ValueError(f"interval ({s}, {e}) has start > end")
    merged = []
    for s, e in sorted(p for p in pairs if p[0] < p[1]):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def total_covered(intervals):
    """Number of integer points covered by the union of the intervals."""
    return sum(e - s for s, e in merge_intervals(intervals))
PY
