"""Fixtures shared across the test tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_peer import SKIP_REASON, codex_binary


@pytest.fixture(scope="session")
def codex() -> Path:
    """The real Codex CLI (the peer ``scripts/install-codex-peer`` installs); skips, saying why, without it."""
    path = codex_binary()
    if path is None:
        pytest.skip(SKIP_REASON)
    return path
