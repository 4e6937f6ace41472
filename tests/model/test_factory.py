"""The one factory from provider config to a model: parameters per wire, headers, key, timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.config import ConfigError, load_config
from agentrt.model.client import OpenAIClient
from agentrt.model.factory import RequestSettings, build_client, model_for, request_params
from agentrt.model.text_tools import STOP, TextToolModel


def build(tmp_path: Path, *overrides: str, env: dict[str, str] | None = None) -> tuple[object, OpenAIClient]:
    config = load_config(tmp_path, env={}, overrides=list(overrides))
    model = model_for(config, {"OPENAI_API_KEY": "k"} if env is None else env)
    client = model.inner if isinstance(model, TextToolModel) else model
    assert isinstance(client, OpenAIClient)
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


def test_output_schema_is_spelled_per_wire() -> None:
    schema = {"type": "object"}
    chat = request_params(RequestSettings(output_schema=schema), "chat")
    assert chat == {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": True},
        }
    }
    responses = request_params(RequestSettings(output_schema=schema), "responses")
    assert responses == {
        "text": {"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": True}}
    }


def test_http_headers_and_env_http_headers_reach_the_endpoint(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'model_provider = "mine"\n[model_providers.mine]\nbase_url = "http://127.0.0.1:9/v1"\n'
        'env_key = "MINE_KEY"\nhttp_headers = { "X-Team" = "blue" }\n'
        'env_http_headers = { "X-Project" = "MINE_PROJECT", "X-Unset" = "NOT_SET_ANYWHERE" }\n'
        "stream_idle_timeout_ms = 2000000\nrequest_max_retries = 7\n"
    )
    _, client = build(tmp_path, env={"MINE_KEY": "secret", "MINE_PROJECT": "p1"})
    assert dict(client.endpoint.headers) == {"X-Team": "blue", "X-Project": "p1"}
    assert client.endpoint.api_key == "secret"
    assert client.timeouts.idle_s == 2000 and client.timeouts.headers_s == 2000
    assert client.retry.max_retries == 7


def test_a_required_key_that_is_missing_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={})
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_client(config.provider, config.model, {})
