"""``web_search``: the Responses API's own search tool, as Codex 0.169 offers it (parity mode).

The server runs the search; agentrt only offers the tool (``{"type": "web_search",
"external_web_access": …}``) and folds the answer that follows. ``web_search = "cached"`` (Codex's
default, except with no sandbox at all, where it is ``"live"``) keeps the search to the provider's
cache, ``"live"`` lets it reach the web, ``"disabled"`` offers no tool. A chat-completions endpoint has no such tool, so none is offered there. Should a
model call it as a function anyway, it is told the search runs on the server.
"""

from __future__ import annotations

from typing import Any

from agentrt.tools.registry import ToolContext

WEB_SEARCH_MODES = ("disabled", "cached", "live")


class WebSearchTool:
    name = "web_search"
    read_only = True

    def __init__(self, mode: str = "cached") -> None:
        if mode not in WEB_SEARCH_MODES[1:]:
            raise ValueError(f"web_search mode must be cached or live, got {mode!r}")
        self.mode = mode

    def spec(self) -> dict[str, Any]:
        return {"type": "web_search", "external_web_access": self.mode == "live"}

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        return "error: web_search runs on the model's server, not as a function call; ask it as a search"
