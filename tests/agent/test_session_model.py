"""The system prompt ``agentrt exec`` starts a session with, by provider (the model: tests/model/test_factory.py)."""

from __future__ import annotations

from pathlib import Path

from agentrt.agent.instructions import base_instructions
from agentrt.agent.session import _initial_history
from agentrt.config import load_config


def test_local_models_get_the_compact_prompt(tmp_path: Path) -> None:
    def system_prompt(*overrides: str) -> str:
        config = load_config(tmp_path, env={}, overrides=list(overrides))
        return str(_initial_history(tmp_path, tmp_path, config, {})[0]["content"])

    compact, full = system_prompt("model_provider=local"), system_prompt()
    assert compact == base_instructions("compact") and full == base_instructions("full")
    assert len(compact) * 3 < len(full)
    assert "apply_patch" in compact and "*** Add File: PATH" in compact
    assert system_prompt("model_provider=local", "base_prompt=full") == full
