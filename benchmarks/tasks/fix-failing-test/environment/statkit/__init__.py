"""statkit: small descriptive statistics helpers."""

from .core import mean, median, value_range

__all__ = ["mean", "median", "value_range"]
