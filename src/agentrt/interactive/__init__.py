"""The interactive terminal session: `agentrt` with no subcommand."""
