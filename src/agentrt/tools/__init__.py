"""The tools an agent uses on its workspace: confined file access and commands run in it."""

from agentrt.tools.workspace import Workspace, WorkspaceError

__all__ = ["Workspace", "WorkspaceError"]
