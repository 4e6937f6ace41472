"""The ``agentrt`` command: one module per subcommand, each with ``add_parser(sub)`` and its ``run``."""

from __future__ import annotations

import argparse
from typing import TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_parser`` of each subcommand module receives."""
