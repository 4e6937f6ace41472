"""Everything that touches the ``mcp`` SDK (extra ``[mcp]``): imported only once a server is configured.

``agentrt.tools.mcp`` imports this module inside the task that connects a server — and loads the SDK
in a thread first (``load``), so its 42–55 MiB and ~0.5 s of imports do not stall the event loop.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import Implementation

if TYPE_CHECKING:
    from collections.abc import Mapping

    from agentrt.tools.mcp import ServerConfig

__all__ = ["MCPError", "connect"]


async def connect(
    stack: AsyncExitStack,
    config: ServerConfig,
    env: Mapping[str, str],
    cwd: Path,
    policy: Mapping[str, Any] | None,
    errlog: IO[str] | None,
) -> Client:
    """Open ``config``'s server on ``stack`` (entered by the calling task, left by it) and return its
    client after the handshake. A stdio server's stderr goes to ``errlog``."""
    from agentrt import __version__
    from agentrt.tools.mcp import http_headers, server_env

    info = Implementation(name="agentrt", version=__version__)
    if config.command is not None:
        where = Path(config.cwd).expanduser() if config.cwd else cwd
        params = StdioServerParameters(
            command=config.command, args=list(config.args), env=server_env(config, env, policy), cwd=where
        )
        transport = stdio_client(params) if errlog is None else stdio_client(params, errlog=errlog)  # type: ignore[arg-type]
        client = Client(transport, client_info=info, cache=None)
    else:
        assert config.url is not None
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        headers = http_headers(config, env)
        http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        client = Client(streamable_http_client(config.url, http_client=http), client_info=info, cache=None)
    return await stack.enter_async_context(client)
