"""``agentrt mcp-server``: agentrt as a stdio MCP server, with Codex's two tools under agentrt's names.

``agentrt`` starts a session and runs one turn; ``agentrt-reply`` runs another turn on a thread (live,
or reopened from its rollout). ``tools`` holds what the MCP SDK is not needed for (the tool shapes,
arguments → ``SessionOptions``); ``server`` the SDK-facing part, imported only by the subcommand: the
SDK costs ~50 MiB to import, and nothing else in agentrt pays for it.
"""
