"""Descriptive statistics over any iterable of numbers."""


def mean(values):
    """Arithmetic mean; ValueError on empty input."""
    data = list(values)
    if not data:
        raise ValueError("mean of empty data")
    return sum(data) / len(data)


def median(values):
    """Middle value of the sorted data (mean of the two middle values for an even count)."""
    data = sorted(values)
    n = len(data)
    if n == 0:
        raise ValueError("median of empty data")
    mid = n // 2
    return data[mid]


def value_range(values):
    """Largest minus smallest value; ValueError on empty input."""
    data = list(values)
    if not data:
        raise ValueError("range of empty data")
    return max(data) - min(data)
