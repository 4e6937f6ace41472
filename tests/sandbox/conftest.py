"""Fixtures shared by the sandbox tests."""

from __future__ import annotations

import pytest
from sandbox_support import MECHANISMS, skip_unless_available


@pytest.fixture(params=MECHANISMS)
def mechanism(request: pytest.FixtureRequest) -> str:
    """Each enforcing mechanism in turn; the test skips, saying why, where one is not available here."""
    name: str = request.param
    skip_unless_available(name)
    return name
