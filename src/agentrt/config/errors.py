"""The one exception the config layer raises."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad config value; the message names the dotted key and the file or flag it came from."""


def located(source: str, key: str, problem: str) -> ConfigError:
    """``<file>: <key>: <problem>``, or ``-c <key>: <problem>`` for a command-line source."""
    sep = " " if source.startswith("-") else ": "
    return ConfigError(f"{source}{sep}{key}: {problem}")
