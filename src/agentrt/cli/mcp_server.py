"""``agentrt mcp-server``: agentrt as a stdio MCP server (``agentrt.mcpserver``; the MCP SDK is imported
only when this command runs)."""

from __future__ import annotations

import argparse
import os

from agentrt.cli import Subparsers

HELP = """\
Serve agentrt over MCP on stdin/stdout, as `codex mcp-server` serves Codex. Two tools:

  agentrt        {prompt, model?, profile?, cwd?, approval-policy?, sandbox?, config?,
                  base-instructions?, developer-instructions?, compact-prompt?} -> {threadId, content}
  agentrt-reply  {threadId, prompt} -> {threadId, content}

Each `agentrt` call opens a session (recorded like any other: `agentrt exec resume THREAD_ID` continues
it), runs one turn and answers the final message; `agentrt-reply` runs another turn on the thread.
Progress goes to the client as `agentrt/event` notifications (agentrt exec --json's events); commands
that need a person's approval are asked through MCP elicitation, and denied when the client has none.
Stops, closing every session, when the client closes stdin. The MCP SDK must be installed
(pip install 'agentrt[mcp]').

  [mcp_servers.agentrt]          # in a Codex config.toml
  command = "agentrt"
  args = ["mcp-server"]
"""


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "mcp-server",
        help="serve agentrt as an MCP server on stdio (tools agentrt, agentrt-reply)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (TOML value) for every session; a call's `config` goes over it",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=16,
        metavar="N",
        help="sessions kept open at once (default 16); the least recently used idle one is closed "
        "(and reopened from its rollout when replied to)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.max_sessions < 1:
        raise ValueError("--max-sessions must be at least 1")
    try:
        from agentrt.mcpserver.server import run_server
    except ImportError as exc:
        if exc.name is None or not exc.name.startswith("mcp"):
            raise
        raise ValueError(
            "agentrt mcp-server needs the MCP SDK: pip install 'agentrt[mcp]' (or 'mcp>=2.3')"
        ) from exc
    return run_server(os.environ, overrides=args.config, max_sessions=args.max_sessions)
