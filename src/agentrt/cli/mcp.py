"""``agentrt mcp list|get|add|remove``: the MCP servers of ``[mcp_servers]``, as ``codex mcp`` shows and
edits them. ``add`` and ``remove`` rewrite ``$AGENTRT_HOME/config.toml`` keeping its comments and layout
(tomlkit); ``list`` and ``get`` read the loaded config (``-c`` overrides apply). The SDK is not imported."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentrt.cli import Subparsers

if TYPE_CHECKING:
    from agentrt.tools.mcp import ServerConfig

HELP = """\
The MCP servers agentrt sessions start ([mcp_servers.NAME] in $AGENTRT_HOME/config.toml). Their tools
are offered to the model as NAME__TOOL. A stdio server is a command (add NAME -- COMMAND ARGS…); a
streamable-HTTP server is a URL (add NAME --url URL).
"""
NAME = re.compile(r"^[A-Za-z0-9_\-:@/.]+$")


def add_parser(sub: Subparsers) -> None:
    mcp = sub.add_parser(
        "mcp",
        help="list, show, add or remove MCP servers in config.toml",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = mcp.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("list", help="the configured servers", description="The configured MCP servers.")
    _common(p)
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(run=run_list)
    p = actions.add_parser("get", help="one server's configuration", description="One MCP server.")
    _common(p)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(run=run_get)
    p = actions.add_parser(
        "add",
        help="add (or replace) a server in config.toml",
        description="Add an MCP server to $AGENTRT_HOME/config.toml: `add NAME -- COMMAND ARGS…` (stdio) or "
        "`add NAME --url URL` (streamable HTTP). A server of the same name is replaced.",
        usage="agentrt mcp add [-h] [--env KEY=VALUE] NAME (--url URL [--bearer-token-env-var VAR] | -- COMMAND…)",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND",
        help="after --: the command that starts a stdio server",
    )
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="set for a stdio server")
    p.add_argument("--url", help="URL of a streamable HTTP server")
    p.add_argument(
        "--bearer-token-env-var", metavar="VAR", help="variable holding the bearer token (--url only)"
    )
    p.set_defaults(run=run_add)
    p = actions.add_parser(
        "remove", help="remove a server from config.toml", description="Remove an MCP server."
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(run=run_remove)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", action="append", default=[], metavar="KEY=VALUE", help="override a key")


def _servers(args: argparse.Namespace) -> list[ServerConfig]:
    import os

    from agentrt.config import agentrt_home, load_config
    from agentrt.tools.mcp import server_configs

    config = load_config(agentrt_home(os.environ), env=os.environ, overrides=args.config)
    for line in config.warnings():
        print(line, file=sys.stderr)
    return server_configs(config.raw)


def run_list(args: argparse.Namespace) -> int:
    servers = _servers(args)
    if args.json:
        print(json.dumps([_json(s, listing=True) for s in servers], indent=2))
        return 0
    if not servers:
        print("No MCP servers configured yet. Try `agentrt mcp add my-tool -- my-command`.")
        return 0
    stdio = [s for s in servers if s.transport == "stdio"]
    http = [s for s in servers if s.transport == "streamable_http"]
    tables = []
    if stdio:
        head = ["Name", "Command", "Args", "Env", "Cwd", "Status", "Auth"]
        rows = [
            [
                s.name,
                s.command or "",
                " ".join(s.args) or "-",
                _env(s),
                s.cwd or "-",
                _status(s),
                "Unsupported",
            ]
            for s in stdio
        ]
        tables.append(_table(head, rows))
    if http:
        head = ["Name", "Url", "Bearer Token Env Var", "Status", "Auth"]
        rows = [[s.name, s.url or "", s.bearer_token_env_var or "-", _status(s), _auth(s)] for s in http]
        tables.append(_table(head, rows))
    print("\n\n".join(tables))
    return 0


def run_get(args: argparse.Namespace) -> int:
    server = next((s for s in _servers(args) if s.name == args.name), None)
    if server is None:
        from agentrt.cli.main import CliError

        raise CliError(f"No MCP server named '{args.name}' found.")
    if args.json:
        print(json.dumps(_json(server, listing=False), indent=2))
        return 0
    lines = [
        server.name,
        f"  enabled: {'true' if server.enabled else 'false'}",
        f"  transport: {server.transport}",
    ]
    if server.transport == "stdio":
        lines += [
            f"  command: {server.command}",
            f"  args: {' '.join(server.args) or '-'}",
            f"  cwd: {server.cwd or '-'}",
            f"  env: {_env(server)}",
        ]
    else:
        lines += [
            f"  url: {server.url}",
            f"  bearer_token_env_var: {server.bearer_token_env_var or '-'}",
            f"  http_headers: {_pairs(server.http_headers, masked=True)}",
            f"  env_http_headers: {_pairs(server.env_http_headers, masked=False)}",
        ]
    if server.enabled_tools is not None:
        lines.append(f"  enabled_tools: {', '.join(server.enabled_tools) or '-'}")
    if server.disabled_tools:
        lines.append(f"  disabled_tools: {', '.join(server.disabled_tools)}")
    startup, tool = server.explicit_timeouts
    if startup is not None:
        lines.append(f"  startup_timeout_sec: {startup:g}")
    if tool is not None:
        lines.append(f"  tool_timeout_sec: {tool:g}")
    lines.append(f"  remove: agentrt mcp remove {server.name}")
    print("\n".join(lines))
    return 0


def run_add(args: argparse.Namespace) -> int:
    import os

    import tomlkit

    from agentrt.config import agentrt_home
    from agentrt.config.load import CONFIG_FILE

    name: str = args.name
    _options_after_name(args)
    if not NAME.match(name):
        raise ValueError(f"invalid server name '{name}' (use letters, numbers, '-', '_', ':', '@', '/', '.')")
    if bool(args.url) == bool(args.command):
        raise ValueError(
            "give either -- COMMAND ARGS… (a stdio server) or --url URL (a streamable HTTP server)"
        )
    table = tomlkit.table()
    if args.command:
        if args.bearer_token_env_var:
            raise ValueError("--bearer-token-env-var is only valid with --url")
        table["command"] = args.command[0]
        if args.command[1:]:
            table["args"] = args.command[1:]
        if args.env:
            env = tomlkit.table()
            for pair in args.env:
                key, sep, value = pair.partition("=")
                if not sep or not key:
                    raise ValueError(f"--env expects KEY=VALUE, got {pair!r}")
                env[key] = value
            table["env"] = env
    else:
        if args.env:
            raise ValueError("--env is only valid with stdio servers (-- COMMAND)")
        table["url"] = args.url
        if args.bearer_token_env_var:
            table["bearer_token_env_var"] = args.bearer_token_env_var
    path = agentrt_home(os.environ) / CONFIG_FILE
    doc = _read(path)
    servers = doc.get("mcp_servers")
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        doc["mcp_servers"] = servers
    elif not isinstance(servers, dict):
        from agentrt.config.errors import ConfigError

        raise ConfigError(f"{path}: mcp_servers: expected a table")
    servers[name] = table
    _write(path, doc)
    print(f"Added global MCP server '{name}'.")
    return 0


def _options_after_name(args: argparse.Namespace) -> None:
    """argparse hands everything after NAME to COMMAND: the options before ``--`` are read here."""
    words: list[str] = list(args.command)
    if "--" not in words and words and not words[0].startswith("-"):
        return  # `add NAME -- CMD…`: argparse already dropped the `--`
    cut = words.index("--") if "--" in words else len(words)
    late = argparse.ArgumentParser(prog="agentrt mcp add", add_help=False, exit_on_error=False)
    late.add_argument("--env", action="append", default=[])
    late.add_argument("--url")
    late.add_argument("--bearer-token-env-var")
    try:
        opts, unknown = late.parse_known_args(words[:cut])
    except argparse.ArgumentError as exc:
        raise ValueError(f"agentrt mcp add: {exc}") from None
    if unknown:
        raise ValueError(
            f"agentrt mcp add: unrecognized arguments: {' '.join(unknown)} (the command goes after --)"
        )
    args.env = [*args.env, *opts.env]
    args.url = args.url or opts.url
    args.bearer_token_env_var = args.bearer_token_env_var or opts.bearer_token_env_var
    args.command = words[cut + 1 :]


def run_remove(args: argparse.Namespace) -> int:
    import os

    from agentrt.config import agentrt_home
    from agentrt.config.load import CONFIG_FILE

    path = agentrt_home(os.environ) / CONFIG_FILE
    doc = _read(path)
    servers = doc.get("mcp_servers")
    if not isinstance(servers, dict) or args.name not in servers:
        print(f"No MCP server named '{args.name}' found.")
        return 0
    del servers[args.name]
    if not servers:
        del doc["mcp_servers"]
    _write(path, doc)
    print(f"Removed global MCP server '{args.name}'.")
    return 0


# -- helpers ---------------------------------------------------------------------------------------------


def _read(path: Path) -> Any:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from agentrt.config.errors import ConfigError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _write(path: Path, doc: Any) -> None:
    """Atomically, keeping the file's mode (as ``agentrt features enable`` writes it)."""
    import os
    import shutil

    import tomlkit

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    if path.exists():
        shutil.copymode(path, tmp)
    os.replace(tmp, path)


def _status(server: ServerConfig) -> str:
    return "enabled" if server.enabled else "disabled"


def _auth(server: ServerConfig) -> str:
    return "Bearer token" if server.bearer_token_env_var else "Unsupported"


def _env(server: ServerConfig) -> str:
    """``A=*****, B=*****`` (values masked, as Codex shows them), ``-`` when there are none."""
    shown = [f"{k}=*****" for k in sorted(server.env)] + list(server.env_vars)
    return ", ".join(shown) or "-"


def _pairs(values: dict[str, str] | Any, *, masked: bool) -> str:
    return ", ".join(f"{k}={'*****' if masked else v}" for k, v in sorted(dict(values).items())) or "-"


def _table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [head, *rows]
    )


def _json(server: ServerConfig, *, listing: bool) -> dict[str, Any]:
    """Codex's ``mcp list --json`` / ``mcp get --json`` object for one server."""
    if server.transport == "stdio":
        transport: dict[str, Any] = {
            "type": "stdio",
            "command": server.command,
            "args": list(server.args),
            "env": dict(server.env) or None,
            "env_vars": list(server.env_vars),
            "cwd": server.cwd,
        }
    else:
        transport = {
            "type": "streamable_http",
            "url": server.url,
            "bearer_token_env_var": server.bearer_token_env_var,
            "http_headers": dict(server.http_headers) or None,
            "env_http_headers": dict(server.env_http_headers) or None,
        }
    out: dict[str, Any] = {
        "name": server.name,
        "enabled": server.enabled,
        "disabled_reason": None,
        "transport": transport,
    }
    if not listing:
        out["enabled_tools"] = list(server.enabled_tools) if server.enabled_tools is not None else None
        out["disabled_tools"] = list(server.disabled_tools) or None
    startup, tool = server.explicit_timeouts
    out["startup_timeout_sec"], out["tool_timeout_sec"] = startup, tool
    if listing:
        out["auth_status"] = "bearer_token" if server.bearer_token_env_var else "unsupported"
    return out
