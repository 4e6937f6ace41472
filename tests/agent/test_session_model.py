"""How ``agentrt exec`` builds its model from the config: sampling and text-protocol parameters."""

from __future__ import annotations

from pathlib import Path

from agentrt.agent.instructions import base_instructions
from agentrt.agent.session import ExecOptions, _build_model, _initial_history
from agentrt.config import load_config
from agentrt.model.client import ChatClient
from agentrt.model.text_tools import STOP, TextToolModel


def build(tmp_path: Path, *overrides: str) -> tuple[object, ChatClient]:
    config = load_config(tmp_path, env={}, overrides=list(overrides))
    env = {"OPENAI_API_KEY": "k"}
    model, client = _build_model(config, ExecOptions(prompt="x", cwd=tmp_path), env, None)
    assert isinstance(client, ChatClient)
    return model, client


def test_local_provider_is_greedy_and_stops_at_an_invented_result(tmp_path: Path) -> None:
    model, client = build(tmp_path, "model_provider=local")
    assert isinstance(model, TextToolModel)
    assert client.params == {"temperature": 0.0, "max_tokens": 2048, "stop": STOP}


def test_model_temperature_overrides_and_openai_sends_none(tmp_path: Path) -> None:
    assert build(tmp_path, "model_provider=local", "model_temperature=0.5")[1].params["temperature"] == 0.5
    model, client = build(tmp_path)
    assert model is client and "temperature" not in client.params and "stop" not in client.params


def test_max_output_tokens_key_follows_the_wire_api(tmp_path: Path) -> None:
    chat = build(tmp_path, "model_provider=local", "model_max_output_tokens=64")[1]
    assert chat.params["max_tokens"] == 64
    responses = build(tmp_path, "model_max_output_tokens=64")[1]
    assert responses.params == {"max_output_tokens": 64}


def test_local_models_get_the_compact_prompt(tmp_path: Path) -> None:
    def system_prompt(*overrides: str) -> str:
        config = load_config(tmp_path, env={}, overrides=list(overrides))
        return str(_initial_history(tmp_path, tmp_path, config, {})[0]["content"])

    compact, full = system_prompt("model_provider=local"), system_prompt()
    assert compact == base_instructions("compact") and full == base_instructions("full")
    assert len(compact) * 3 < len(full)
    assert "apply_patch" in compact and "*** Add File: PATH" in compact
    assert system_prompt("model_provider=local", "base_prompt=full") == full
