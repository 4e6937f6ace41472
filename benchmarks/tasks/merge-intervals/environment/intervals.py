"""Half-open integer intervals: merging and coverage."""


def merge_intervals(intervals):
    """Union of half-open [start, end) intervals as sorted, disjoint, non-touching (start, end) tuples."""
    raise NotImplementedError


def total_covered(intervals):
    """Number of integer points covered by the union of the intervals."""
    raise NotImplementedError
