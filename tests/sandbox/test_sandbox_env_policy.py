"""``[shell_environment_policy]`` checked up front: ``check_env_policy`` names the bad key and value,
with the very message ``build_env`` would give at the first command."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agentrt.sandbox.env import build_env, check_env_policy

BAD = [
    ({"inherit": "some"}, "shell_environment_policy.inherit: expected one of all, core, none, got 'some'"),
    ({"inherit": ["all"]}, "shell_environment_policy.inherit: expected one of all, core, none, got ['all']"),
    ({"ignore_default_excludes": "no"}, "shell_environment_policy.ignore_default_excludes: expected true or false, got 'no'"),
    ({"experimental_use_profile": 1}, "shell_environment_policy.experimental_use_profile: expected true or false, got 1"),
    ({"exclude": "*X*"}, "shell_environment_policy.exclude: expected a list of strings, got '*X*'"),
    ({"include_only": ["A", 1]}, "shell_environment_policy.include_only[1]: expected a string, got 1"),
    ({"set": ["A=1"]}, "shell_environment_policy.set: expected a table of strings, got ['A=1']"),
    ({"set": {"A": "1", "B": 2}}, "shell_environment_policy.set.B: expected a string, got 2"),
    ({"inherits": "all"}, "shell_environment_policy.inherits: unknown key (known: inherit, ignore_default_excludes, exclude, set, include_only, experimental_use_profile)"),
    ("all", "shell_environment_policy: expected a table, got 'all'"),
    ([["inherit", "all"]], "shell_environment_policy: expected a table, got [['inherit', 'all']]"),
]  # fmt: skip


@pytest.mark.parametrize(("table", "message"), BAD)
def test_bad_table_is_one_value_error_naming_key_and_value(table: Any, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_env_policy(table)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build_env({}, table, tmpdir=None)


def test_good_table_is_returned_complete_and_the_input_untouched() -> None:
    given = {"inherit": "core", "exclude": ["A*"], "set": {"X": "1"}}
    table = check_env_policy(given)
    assert table == {
        "inherit": "core",
        "ignore_default_excludes": False,
        "experimental_use_profile": False,
        "exclude": ("A*",),
        "include_only": (),
        "set": {"X": "1"},
    }
    assert given == {"inherit": "core", "exclude": ["A*"], "set": {"X": "1"}}
    assert (
        check_env_policy(None)
        == check_env_policy({})
        == {**table, "inherit": "all", "exclude": (), "set": {}}
    )
