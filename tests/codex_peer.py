"""Where the tests find the real Codex CLI (the peer `scripts/install-codex-peer` installs): one place.

Tests that need it skip, saying why, when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

VENDOR_BIN = "node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
SKIP_REASON = "the Codex CLI peer is not installed (AGENTRT_CODEX_BIN, or scripts/install-codex-peer)"


def codex_binary() -> Path | None:
    """The Codex binary named by ``AGENTRT_CODEX_BIN``, else one found under the peer cache directory."""
    named = os.environ.get("AGENTRT_CODEX_BIN")
    if named:
        return Path(named) if Path(named).is_file() else None
    root = Path(os.environ.get("AGENTRT_PEER_DIR") or Path.home() / ".cache" / "agentrt-peer")
    candidates = [root / VENDOR_BIN, *sorted(root.glob("*/node_modules/@openai/codex-*/vendor/*/bin/codex"))]
    candidates += sorted(root.glob("node_modules/@openai/codex-*/vendor/*/bin/codex"))
    return next((p for p in candidates if p.is_file() and os.access(p, os.X_OK)), None)


def without_descriptions(value: Any) -> Any:
    """A tool schema with its prose left out (prompt text, agentrt's own words): every string
    ``description`` annotation — not a property that happens to be named ``description``."""
    if isinstance(value, dict):
        return {
            k: without_descriptions(v)
            for k, v in value.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(value, list):
        return [without_descriptions(v) for v in value]
    return value
