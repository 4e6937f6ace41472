"""agentrt's config loading: real config.toml files in temporary homes, no mocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.config import (
    DEFAULT_MODEL,
    Config,
    ConfigError,
    ProviderConfig,
    agentrt_home,
    api_key_for,
    load_config,
)


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(home: Path, **kw: object) -> Config:
    return load_config(home, env={}, **kw)  # type: ignore[arg-type]


def error(home: Path, **kw: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(home, **kw)
    return str(info.value)


# --- home and defaults ---------------------------------------------------------------------------


def test_home_from_env_and_default(tmp_path: Path) -> None:
    assert agentrt_home({"AGENTRT_HOME": str(tmp_path / "h")}) == tmp_path / "h"
    assert agentrt_home({"HOME": str(tmp_path)}) == tmp_path / ".agentrt"
    assert agentrt_home({"HOME": str(tmp_path), "AGENTRT_HOME": "~/x"}) == tmp_path / "x"
    assert agentrt_home({"HOME": str(tmp_path), "AGENTRT_HOME": ""}) == tmp_path / ".agentrt"


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    config = load(tmp_path / "nohome")
    assert config.model == DEFAULT_MODEL == "gpt-5-codex"
    assert config.model_provider == "openai" and config.profile is None
    assert config.provider.base_url == "https://api.openai.com/v1"
    assert config.provider.wire_api == "responses" and config.provider.env_key == "OPENAI_API_KEY"
    assert (config.sandbox_mode, config.approval_policy) == ("read-only", "never")
    assert (config.max_turns, config.max_wall_s, config.max_tokens) == (50, 1800.0, None)
    assert (config.project_doc_max_bytes, config.tool_output_max_bytes) == (32768, 16384)
    assert config.text_tools is None and not config.use_text_tools
    assert config.raw == {}


def test_local_provider_builtin(tmp_path: Path) -> None:
    config = load(tmp_path, overrides=["model_provider=local"])
    assert config.provider.base_url == "http://127.0.0.1:8080/v1"
    assert config.provider.text_tools and config.use_text_tools and config.provider.wire_api == "chat"
    assert config.model == "local"
    assert api_key_for(config.provider, {}) is None
    assert not load(tmp_path, overrides=["model_provider=local", "text_tools=false"]).use_text_tools


def test_temperature_from_provider_unless_set(tmp_path: Path) -> None:
    assert load(tmp_path).temperature is None  # openai: not sent
    assert load(tmp_path, overrides=["model_provider=local"]).temperature == 0.0
    assert load(tmp_path, overrides=["model_provider=local", "model_temperature=0.7"]).temperature == 0.7
    mine = ['model_provider="m"', 'model_providers.m.base_url="http://h"', "model_providers.m.temperature=1"]
    assert load(tmp_path, overrides=mine).temperature == 1.0
    assert "model_temperature: expected a number" in error(tmp_path, overrides=["model_temperature=3"])


def test_max_output_tokens_from_provider_unless_set(tmp_path: Path) -> None:
    assert load(tmp_path).max_output_tokens is None
    assert load(tmp_path, overrides=["model_provider=local"]).max_output_tokens == 2048
    local_500 = ["model_provider=local", "model_max_output_tokens=500"]
    assert load(tmp_path, overrides=local_500).max_output_tokens == 500
    assert "model_max_output_tokens: expected an integer >= 1" in error(
        tmp_path, overrides=["model_max_output_tokens=0"]
    )


def test_openai_base_url_from_env(tmp_path: Path) -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_ORGANIZATION": "org-1"}
    provider = load_config(tmp_path, env=env).provider
    assert provider.base_url == "http://127.0.0.1:9/v1"
    assert provider.http_headers == {"OpenAI-Organization": "org-1"}


# --- precedence ----------------------------------------------------------------------------------


def test_each_layer_beats_the_next(tmp_path: Path) -> None:
    write(
        tmp_path,
        'model = "file"\nmax_turns = 7\napproval_policy = "on-request"\nprofile = "p"\n'
        '[profiles.p]\nmodel = "profile"\nmax_turns = 8\n',
    )
    assert load(tmp_path).model == "profile"  # profile beats top level
    assert load(tmp_path).approval_policy == "on-request"  # top level beats default
    assert load(tmp_path).max_turns == 8
    over = load(tmp_path, overrides=["model=override"])
    assert (over.model, over.max_turns) == ("override", 8)  # -c beats profile
    flagged = load(tmp_path, overrides=["model=override"], flags={"model": "flag", "max_turns": None})
    assert (flagged.model, flagged.max_turns) == ("flag", 8)  # flag beats -c; None flags are ignored


def test_later_override_wins_and_raw_holds_merged(tmp_path: Path) -> None:
    write(tmp_path, '[shell_environment_policy]\ninherit = "core"\n')
    config = load(
        tmp_path, overrides=["max_turns=3", "max_turns=4", "shell_environment_policy.exclude=['A*']"]
    )
    assert config.max_turns == 4
    assert config.raw["shell_environment_policy"] == {"inherit": "core", "exclude": ["A*"]}


# --- -c parsing ----------------------------------------------------------------------------------


def test_override_values_parse_as_toml_else_string(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        overrides=[
            "max_wall_s=2.5",
            "max_tokens = 1000",
            "text_tools=true",
            "model=gpt-5.1",  # not valid TOML: taken as a string
            'approval_policy="on-failure"',
            "sandbox_mode='workspace-write'",
            "sandbox_workspace_write={network_access = true, writable_roots = ['/tmp/x']}",
        ],
    )
    assert (config.max_wall_s, config.max_tokens, config.text_tools) == (2.5, 1000, True)
    assert (config.model, config.approval_policy, config.sandbox_mode) == (
        "gpt-5.1",
        "on-failure",
        "workspace-write",
    )
    assert config.raw["sandbox_workspace_write"] == {"network_access": True, "writable_roots": ["/tmp/x"]}


def test_override_dotted_keys_define_and_tweak_providers(tmp_path: Path) -> None:
    write(tmp_path, '[model_providers.vllm]\nbase_url = "http://127.0.0.1:8000/v1"\nenv_key = "VLLM_KEY"\n')
    config = load(
        tmp_path,
        overrides=[
            "model_provider=vllm",
            "model_providers.vllm.wire_api=responses",
            'model_providers.vllm.http_headers={"X-A" = "1"}',
            "model_providers.vllm.request_max_retries=9",
        ],
    )
    assert config.provider == ProviderConfig(
        id="vllm",
        name="vllm",
        base_url="http://127.0.0.1:8000/v1",
        env_key="VLLM_KEY",
        wire_api="responses",
        request_max_retries=9,
        http_headers={"X-A": "1"},
    )
    # -c may point a built-in somewhere else for one run (the file may not redefine it).
    local = load(
        tmp_path, overrides=["model_provider=local", "model_providers.local.base_url=http://[::1]:9/v1"]
    )
    assert local.provider.base_url == "http://[::1]:9/v1" and local.provider.text_tools


def test_bad_override_syntax(tmp_path: Path) -> None:
    assert "expected key=value" in error(tmp_path, overrides=["model"])
    assert "empty part in dotted key" in error(tmp_path, overrides=["profiles..x=1"])


# --- profiles ------------------------------------------------------------------------------------


def test_profile_flag_beats_profile_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        'profile = "a"\n[profiles.a]\nmodel = "ma"\n[profiles.b]\nmodel = "mb"\nmodel_provider = "local"\n',
    )
    assert (load(tmp_path).model, load(tmp_path).profile) == ("ma", "a")
    b = load(tmp_path, profile="b")
    assert (b.model, b.profile, b.model_provider) == ("mb", "b", "local")
    assert load(tmp_path, overrides=["profile=b"]).model == "mb"
    assert load(tmp_path, overrides=["profiles.c.model=mc"], profile="c").model == "mc"


def test_unknown_profile_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, '[profiles.a]\nmodel = "ma"\n')
    assert error(tmp_path, profile="zz") == "-p: unknown profile 'zz' (known: a)"
    path = write(tmp_path, 'profile = "zz"\n')
    message = error(tmp_path)
    assert message.startswith(f"{path}: profile: unknown profile 'zz'")


# --- validation messages -------------------------------------------------------------------------


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    # Codex 0.169 warns about keys it does not know and goes on; --strict-config makes them errors.
    path = write(tmp_path, 'modle = "x"\n')
    assert error(tmp_path, strict=True) == f"{path}: unknown key 'modle' (did you mean 'model'?)"
    loose = load(tmp_path)
    assert loose.model == DEFAULT_MODEL and "modle" not in loose.raw
    assert loose.warnings() == (
        f"agentrt: warning: config keys that nothing reads, ignored: {path}: unknown key 'modle' "
        "(did you mean 'model'?)",
    )
    write(tmp_path, '[model_providers.x]\nbase_url = "http://h"\nbse = 1\n')
    assert "unknown key 'model_providers.x.bse'" in error(tmp_path, strict=True)
    write(tmp_path, "[profiles.p]\nzzz = 1\n")
    assert "unknown key 'profiles.p.zzz'" in error(tmp_path, strict=True)
    assert error(tmp_path / "other", overrides=["nope.deep=1"], strict=True) == "-c: unknown key 'nope'"
    assert [str(k) for k in load(tmp_path / "other", overrides=["nope.deep=1"]).unknown_keys] == [
        "-c: unknown key 'nope'"
    ]


def test_bad_values_and_types_are_named(tmp_path: Path) -> None:
    assert error(tmp_path, overrides=["sandbox_mode=x"]) == (
        "-c sandbox_mode: expected one of read-only, workspace-write, danger-full-access, got 'x'"
    )
    path = write(tmp_path, 'max_turns = "5"\n')
    assert error(tmp_path) == f"{path}: max_turns: expected an integer >= 1, got '5'"
    write(tmp_path, "max_turns = true\n")
    assert "max_turns: expected an integer >= 1, got boolean true" in error(tmp_path)
    write(tmp_path, '[profiles.p]\napproval_policy = "sometimes"\n')
    assert "profiles.p.approval_policy: expected one of untrusted, on-failure, on-request, never" in error(
        tmp_path
    )
    write(tmp_path, '[model_providers.x]\nbase_url = "http://h"\nwire_api = "grpc"\n')
    assert "model_providers.x.wire_api: expected one of chat, responses, got 'grpc'" in error(tmp_path)
    write(tmp_path, "profiles = 3\n")
    assert "profiles: expected a table, got integer 3" in error(tmp_path)
    assert error(tmp_path / "h2", flags={"max_wall_s": 0}) == (
        "command line: max_wall_s: expected a number > 0, got integer 0"
    )


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'model = "a"\nmax_turns = = 3\n')
    message = error(tmp_path)
    assert message.startswith(f"{path}: invalid TOML") and "line 2" in message


def test_provider_needs_base_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[model_providers.x]\nname = "X"\n')
    message = error(tmp_path, overrides=["model_provider=x"])
    assert message == f"{path}: model_providers.x: missing required key 'base_url'"


def test_openai_cannot_be_redefined_local_can(tmp_path: Path) -> None:
    path = write(tmp_path, '[model_providers.openai]\nbase_url = "http://evil"\n')
    assert error(tmp_path).startswith(f"{path}: model_providers.openai: 'openai' is a built-in provider")
    write(tmp_path, '[model_providers.local]\nname = "mine"\n')
    local = load(tmp_path, overrides=["model_provider=local"]).provider
    assert local.name == "mine" and local.base_url == "http://127.0.0.1:8080/v1" and local.text_tools


def test_unknown_provider_lists_known_ids(tmp_path: Path) -> None:
    path = write(tmp_path, 'model_provider = "nope"\n[model_providers.mine]\nbase_url = "http://h"\n')
    assert error(tmp_path) == f"{path}: model_provider: unknown provider 'nope' (known: local, mine, openai)"
    message = error(tmp_path, overrides=["model_provider=zz"])
    assert message.startswith("-c model_provider: unknown provider 'zz'")


# --- API keys ------------------------------------------------------------------------------------


def test_api_key_for(tmp_path: Path) -> None:
    openai = load(tmp_path).provider
    assert api_key_for(openai, {"OPENAI_API_KEY": " sk-1 "}) == "sk-1"
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY in the environment"):
        api_key_for(openai, {"OPENAI_API_KEY": ""})
    optional = ProviderConfig(id="x", name="X", base_url="http://h", env_key="X_KEY", requires_api_key=False)
    assert api_key_for(optional, {}) is None
    required = ProviderConfig(id="y", name="Y", base_url="http://h", env_key="Y_KEY")
    with pytest.raises(ConfigError, match="provider 'y' needs an API key: set Y_KEY"):
        api_key_for(required, {})
    assert api_key_for(ProviderConfig(id="z", name="Z", base_url="http://h"), {}) is None


def test_base_prompt_from_provider_unless_set(tmp_path: Path) -> None:
    assert load(tmp_path).base_prompt_kind == "full"
    assert load(tmp_path, overrides=["model_provider=local"]).base_prompt_kind == "compact"
    assert load(tmp_path, overrides=["model_provider=local", "base_prompt=full"]).base_prompt_kind == "full"
    assert "base_prompt: expected one of full, compact, got 'tiny'" in error(
        tmp_path, overrides=["base_prompt=tiny"]
    )
