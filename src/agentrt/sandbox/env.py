"""The environment of every command: ``[shell_environment_policy]``, then non-interactive settings.

``build_env`` follows Codex's five steps, in order:

1. ``inherit``: ``all`` (default) starts from the runtime's environment, ``core`` from a short list
   (``HOME``, ``LOGNAME``, ``PATH``, ``SHELL``, ``USER``, ``USERNAME``, ``TMPDIR``, ``TEMP``,
   ``TMP``, ``LANG``, ``LC_*``, ``TERM``, ``TZ``), ``none`` from nothing;
2. unless ``ignore_default_excludes = true``, drop every name matching ``*KEY*``, ``*SECRET*`` or
   ``*TOKEN*`` (case-insensitive);
3. drop names matching any ``exclude`` glob (case-insensitive);
4. add ``set`` (a table of strings);
5. with ``include_only``, keep only names matching one of its globs.

Then agentrt adds what makes commands non-interactive (``CI=1``, ``GIT_TERMINAL_PROMPT=0``,
``PAGER=cat``, ``GIT_PAGER=cat``, ``GIT_EDITOR=true``, ``EDITOR=true``, ``npm_config_yes=true``,
``DEBIAN_FRONTEND=noninteractive``, ``PIP_NO_INPUT=1``) unless ``set`` names them explicitly, and,
always, ``TMPDIR``/``TMP``/``TEMP`` for a private temp dir, ``AGENTRT_SANDBOX=<mechanism>`` under a
sandbox and ``AGENTRT_SANDBOX_NETWORK_DISABLED=1`` when the network is off.

Scrubbing the child's environment does not hide the runtime's own: see ``harden_runtime`` and the
sandboxes' notes on ``/proc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

TABLE = "shell_environment_policy"
KEYS = ("inherit", "ignore_default_excludes", "exclude", "set", "include_only", "experimental_use_profile")
INHERIT = ("all", "core", "none")
CORE_VARS = (
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "USER",
    "USERNAME",
    "TMPDIR",
    "TEMP",
    "TMP",
    "LANG",
    "LC_*",
    "TERM",
    "TZ",
)
DEFAULT_EXCLUDES = ("*KEY*", "*SECRET*", "*TOKEN*")
NON_INTERACTIVE = {
    "CI": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "GIT_EDITOR": "true",
    "EDITOR": "true",
    "npm_config_yes": "true",
    "DEBIAN_FRONTEND": "noninteractive",
    "PIP_NO_INPUT": "1",
}


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    upper = name.upper()
    return any(fnmatchcase(upper, pattern.upper()) for pattern in patterns)


def check_env_policy(policy: object) -> dict[str, Any]:
    """A checked, completed copy of a ``[shell_environment_policy]`` table (``None``: the defaults).

    Call it when a session starts, so a mistake stops the run before the model is asked anything;
    ``build_env`` calls it too, so the checks and their messages live here only. ``ValueError``
    names the bad key and shows its value (``shell_environment_policy.set.B: expected a string,
    got 2``); lists come back as tuples, the input is not changed.
    """
    if policy is None:
        policy = {}
    if not isinstance(policy, Mapping):
        raise ValueError(f"{TABLE}: expected a table, got {_shown(policy)}")
    for key in policy:
        if key not in KEYS:
            raise ValueError(f"{TABLE}.{key}: unknown key (known: {', '.join(KEYS)})")
    inherit = policy.get("inherit", "all")
    if not isinstance(inherit, str) or inherit not in INHERIT:
        raise ValueError(f"{TABLE}.inherit: expected one of {', '.join(INHERIT)}, got {_shown(inherit)}")
    return {
        "inherit": inherit,
        "ignore_default_excludes": _flag(policy, "ignore_default_excludes"),
        "experimental_use_profile": _flag(policy, "experimental_use_profile"),
        "exclude": _patterns(policy, "exclude"),
        "include_only": _patterns(policy, "include_only"),
        "set": _values(policy.get("set", {})),
    }


def _flag(policy: Mapping[str, Any], key: str) -> bool:
    value = policy.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{TABLE}.{key}: expected true or false, got {_shown(value)}")
    return value


def _patterns(policy: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = policy.get(key, [])
    if not isinstance(value, list | tuple):
        raise ValueError(f"{TABLE}.{key}: expected a list of strings, got {_shown(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"{TABLE}.{key}[{index}]: expected a string, got {_shown(item)}")
    return tuple(value)


def _values(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{TABLE}.set: expected a table of strings, got {_shown(value)}")
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise ValueError(f"{TABLE}.set.{name}: expected a string, got {_shown(item)}")
    return dict(value)


def _shown(value: object, limit: int = 60) -> str:
    """A value as the error shows it: its repr, cut so one line stays one line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_env(
    base: Mapping[str, str],
    policy: Mapping[str, Any] | None,
    *,
    tmpdir: Path | None,
    sandbox: str | None = None,
    network: bool = True,
) -> dict[str, str]:
    """The environment for a command (see the module docstring).

    ``base`` is the runtime's environment, ``policy`` the ``[shell_environment_policy]`` table,
    ``tmpdir`` the sandbox's private temp dir, ``sandbox`` the mechanism's name (``None`` or
    ``"none"`` when unsandboxed) and ``network`` whether the command may use the network.
    """
    table = check_env_policy(policy)
    env = _inherited(base, table["inherit"])
    if not table["ignore_default_excludes"]:
        env = {k: v for k, v in env.items() if not _matches(k, DEFAULT_EXCLUDES)}
    env = {k: v for k, v in env.items() if not _matches(k, table["exclude"])}
    env.update(table["set"])
    if table["include_only"]:
        env = {k: v for k, v in env.items() if _matches(k, table["include_only"])}
    for name, value in NON_INTERACTIVE.items():
        if name not in table["set"]:
            env[name] = value
    if tmpdir is not None:
        env.update(TMPDIR=str(tmpdir), TMP=str(tmpdir), TEMP=str(tmpdir))
    if sandbox is not None and sandbox != "none":
        env["AGENTRT_SANDBOX"] = sandbox
        if not network:
            env["AGENTRT_SANDBOX_NETWORK_DISABLED"] = "1"
    return env


def _inherited(base: Mapping[str, str], inherit: str) -> dict[str, str]:
    if inherit == "all":
        return dict(base)
    if inherit == "none":
        return {}
    return {k: v for k, v in base.items() if _matches(k, CORE_VARS)}
