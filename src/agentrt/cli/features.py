"""``agentrt features list|enable|disable``: the feature flags, and switching them in config.toml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.cli import Subparsers

if TYPE_CHECKING:
    from agentrt.config.features import Features

HELP = """\
Feature flags: Codex CLI 0.169's keys (origin codex) and agentrt's own extensions (origin agentrt).
A flag is resolved from its default, then [features] in $AGENTRT_HOME/config.toml, then the
profile's features table, then -c features.KEY=BOOL, then --enable KEY / --disable KEY. A flag
that is on switches on the flags it requires.
"""


def add_parser(sub: Subparsers) -> None:
    features = sub.add_parser(
        "features",
        help="list feature flags, or switch one in config.toml",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = features.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "list", help="every flag, sorted by key: key, stage, enabled", description="Every feature flag."
    )
    p.add_argument("-p", "--profile", help="resolve as under config profile NAME")
    p.add_argument("-c", "--config", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    p.add_argument("--enable", action="append", default=[], metavar="KEY", help="switch KEY on (repeatable)")
    p.add_argument(
        "--disable", action="append", default=[], metavar="KEY", help="switch KEY off (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=run_list)
    for verb, on in (("enable", True), ("disable", False)):
        p = actions.add_parser(
            verb,
            help=f"set [features] KEY = {'true' if on else 'false'} in config.toml",
            description=f"Write [features] KEY = {'true' if on else 'false'} into $AGENTRT_HOME/config.toml, "
            "keeping the rest of the file as it is.",
        )
        p.add_argument("key", metavar="KEY")
        p.set_defaults(run=run_enable if on else run_disable)


def run_list(args: argparse.Namespace) -> int:
    import os

    from agentrt.config import agentrt_home, load_config

    config = load_config(
        agentrt_home(os.environ),
        env=os.environ,
        profile=args.profile,
        overrides=args.config,
        enable=args.enable,
        disable=args.disable,
    )
    for line in config.warnings():
        print(line, file=sys.stderr)
    if args.json:
        print(render_json(config.features))
    else:
        print(render_table(config.features))
    return 0


def render_table(features: Features) -> str:
    """``key  stage  enabled`` per flag, sorted by key, in aligned columns."""
    rows = [(spec.key, spec.stage, "true" if on else "false") for spec, on in features]
    key_w = max(len(row[0]) for row in rows)
    stage_w = max(len(row[1]) for row in rows)
    return "\n".join(f"{key:<{key_w}}  {stage:<{stage_w}}  {on}" for key, stage, on in rows)


def render_json(features: Features) -> str:
    import json

    return "\n".join(
        json.dumps(
            {
                "key": spec.key,
                "stage": spec.stage,
                "enabled": on,
                "default": spec.default,
                "origin": spec.origin,
                "requires": list(spec.requires),
                "aliases": list(spec.aliases),
            }
        )
        for spec, on in features
    )


def run_enable(args: argparse.Namespace) -> int:
    return _switch(args.key, True)


def run_disable(args: argparse.Namespace) -> int:
    return _switch(args.key, False)


def _switch(name: str, on: bool) -> int:
    import os

    from agentrt.config import agentrt_home
    from agentrt.config.features import (
        REMOVED,
        SPECS,
        UNDER_DEVELOPMENT,
        canonical,
        closest,
        unstable_message,
    )
    from agentrt.config.load import CONFIG_FILE, WARNING_PREFIX

    key = canonical(name)
    if key is None:
        near = closest(name)
        hint = f" (did you mean '{near}'?)" if near else ""
        raise ValueError(f"unknown feature '{name}'{hint}; `agentrt features list` shows them")
    spec = SPECS[key]
    if spec.stage == REMOVED:
        raise ValueError(f"feature '{key}' was removed and does nothing; nothing written")
    path = agentrt_home(os.environ) / CONFIG_FILE
    set_feature(path, key, on, aliases=spec.aliases)
    if name != key:
        print(f"{WARNING_PREFIX}'{name}' is a legacy name; wrote '{key}' instead", file=sys.stderr)
    if on and spec.stage == UNDER_DEVELOPMENT:
        print(WARNING_PREFIX + unstable_message([key]), file=sys.stderr)
    print(f"{'enabled' if on else 'disabled'} {key} in {path}")
    return 0


def set_feature(path: Path, key: str, on: bool, *, aliases: tuple[str, ...] = ()) -> None:
    """Set ``[features] key = on`` in the TOML file at ``path`` (created if missing), removing the
    key's legacy aliases from that table; everything else in the file is kept byte for byte."""
    import os

    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from agentrt.config.errors import ConfigError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    table = doc.get("features")
    if table is None:
        table = tomlkit.table()
        doc["features"] = table
    elif not isinstance(table, dict):
        raise ConfigError(f"{path}: features: expected a table of booleans")
    for alias in aliases:
        if alias in table:
            del table[alias]
    table[key] = on
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    if path.exists():
        import shutil

        shutil.copymode(path, tmp)
    os.replace(tmp, path)
