"""The ``agentrt`` command: the only synchronous edge of agentrt. Subcommands import what they use."""
