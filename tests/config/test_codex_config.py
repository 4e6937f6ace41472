"""A Codex CLI config.toml loads in agentrt: keys it uses are applied, the rest are named in one
warning, ``strict`` refuses them, profiles load both ways, ``[model_providers.local]`` is a user's.

The same config is checked against the real Codex CLI 0.169 with ``--strict-config`` (which fails on
any key Codex does not know), proving every key here is a real Codex key. That test is skipped when
no Codex binary is installed: set ``AGENTRT_CODEX_BIN`` or run ``scripts/install-codex-peer``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentrt.config import Config, ConfigError, load_config
from agentrt.model.factory import build_client
from agentrt.model.sim.process import SimProcess
from codex_peer import SKIP_REASON, codex_binary

# Every key named in item 1 of issue 11, as a Codex user writes them. ``{url}`` is the model server,
# ``{dir}`` a directory for the files some keys name.
CODEX_CONFIG = """\
model = "scripted"
model_provider = "local"
model_reasoning_effort = "high"
model_reasoning_summary = "detailed"
model_verbosity = "low"
model_context_window = 200000
model_auto_compact_token_limit = 150000
tool_output_token_limit = 12000
compact_prompt = "Summarize the conversation so far."
developer_instructions = "Prefer small diffs."
model_instructions_file = "{dir}/instructions.md"
project_doc_fallback_filenames = ["CLAUDE.md"]
hide_agent_reasoning = true
show_raw_agent_reasoning = false
web_search = "disabled"
file_opener = "none"
check_for_update_on_startup = false
notify = ["true"]
forced_login_method = "api"
cli_auth_credentials_store = "file"
disable_paste_burst = true
approval_policy = "never"
sandbox_mode = "workspace-write"

[sandbox_workspace_write]
exclude_slash_tmp = true
network_access = false

[shell_environment_policy]
inherit = "core"

[history]
persistence = "none"
max_bytes = 1048576

[features]
shell_snapshot = false

[tui]
notifications = false
animations = false

[projects."{dir}"]
trust_level = "trusted"

[otel]
environment = "test"
exporter = "none"

[mcp_servers.docs]
command = "true"
enabled = false

[model_providers.local]
name = "local"
base_url = "{url}"
env_key = "LOCAL_KEY"
env_key_instructions = "any value works for the local server"
wire_api = "responses"
query_params = {{ "api-version" = "2025-04-01" }}
request_max_retries = 1
stream_max_retries = 2
stream_idle_timeout_ms = 60000
http_headers = {{ "X-Team" = "blue" }}
env_http_headers = {{ "X-Project" = "AGENTRT_TEST_PROJECT" }}
requires_openai_auth = false
"""

# What agentrt does not use of it (``check_for_update_on_startup = false``, ``exclude_slash_tmp =
# true`` and ``requires_openai_auth = false`` ask for what agentrt does anyway, so they are not named;
# ``[features]`` is applied: ``agentrt.config.features``).
IGNORED = (
    "cli_auth_credentials_store",
    "developer_instructions",
    "disable_paste_burst",
    "file_opener",
    "forced_login_method",
    "hide_agent_reasoning",
    "history.max_bytes",
    "model_instructions_file",
    "notify",
    "otel",
    "project_doc_fallback_filenames",
    "projects",
    "show_raw_agent_reasoning",
    "tui",
)


def codex_config(tmp_path: Path, url: str = "http://127.0.0.1:9/v1") -> str:
    (tmp_path / "instructions.md").write_text("You are a careful coding agent.\n")
    return CODEX_CONFIG.format(url=url, dir=tmp_path)


def write(home: Path, text: str, name: str = "config.toml") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / name
    path.write_text(text, encoding="utf-8")
    return path


def load(home: Path, **kw: object) -> Config:
    return load_config(home, env={}, **kw)  # type: ignore[arg-type]


def error(home: Path, **kw: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(home, **kw)
    return str(info.value)


# --- a Codex config.toml ---------------------------------------------------------------------------


def test_a_codex_config_loads_and_applies_what_agentrt_has(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home, codex_config(tmp_path))
    config = load(home)
    assert (config.model, config.model_provider) == ("scripted", "local")
    assert (config.sandbox_mode, config.approval_policy) == ("workspace-write", "never")
    assert (config.model_context_window, config.model_auto_compact_token_limit) == (200000, 150000)
    assert config.tool_output_token_limit == 12000
    assert config.compact_prompt == "Summarize the conversation so far."
    assert config.history_persistence == "none"
    provider = config.provider
    assert provider.query_params == {"api-version": "2025-04-01"}
    assert (provider.request_max_retries, provider.stream_max_retries) == (1, 2)
    assert provider.stream_idle_timeout_ms == 60000 and provider.wire_api == "responses"
    assert provider.http_headers == {"X-Team": "blue"}
    assert provider.env_http_headers == {"X-Project": "AGENTRT_TEST_PROJECT"}
    assert provider.env_key == "LOCAL_KEY"
    assert provider.env_key_instructions == "any value works for the local server"
    # What reaches the code that reads the tables: the keys it knows, nothing it would refuse.
    assert config.raw["sandbox_workspace_write"] == {"network_access": False}
    assert config.raw["shell_environment_policy"] == {"inherit": "core"}
    assert config.raw["history"] == {"persistence": "none"}
    assert not {"notify", "tui"} & set(config.raw)
    assert config.raw["mcp_servers"] == {"docs": {"command": "true", "enabled": False}}  # applied
    assert (config.model_reasoning_effort, config.model_reasoning_summary, config.model_verbosity) == (
        "high",
        "detailed",
        "low",
    )  # applied: sent on the Responses wire


def test_the_one_warning_names_exactly_the_ignored_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home, codex_config(tmp_path))
    config = load(home)
    assert config.ignored_keys == IGNORED
    assert config.unknown_keys == ()
    assert config.warnings() == (
        "agentrt: warning: config keys agentrt does not use yet: " + ", ".join(IGNORED),
    )


def test_strict_refuses_it_naming_the_ignored_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home, codex_config(tmp_path))
    message = error(home, strict=True)
    assert message == (
        "config keys agentrt does not use yet: " + ", ".join(IGNORED) + " (strict config refuses them)"
    )
    write(home, 'model = "m"\nmodel_context_window = 1000\n[history]\npersistence = "none"\n')
    assert load(home, strict=True).model_context_window == 1000  # only applied keys: strict is content


def test_ignored_keys_are_named_from_every_layer_once(tmp_path: Path) -> None:
    write(tmp_path, 'notify = ["a"]\n[profiles.p]\nhide_agent_reasoning = true\n')
    config = load(
        tmp_path,
        overrides=["notify=['b']", "tui.animations=false", "sandbox_workspace_write.exclude_slash_tmp=false"],
    )
    assert config.ignored_keys == (
        "notify",
        "profiles.p.hide_agent_reasoning",
        "sandbox_workspace_write.exclude_slash_tmp",
        "tui",
    )


def test_values_of_ignored_keys_are_still_checked(tmp_path: Path) -> None:
    path = write(tmp_path, 'model_reasoning_effort = "extreme"\n')
    assert error(tmp_path) == (
        f"{path}: model_reasoning_effort: expected one of none, minimal, low, medium, high, xhigh, got 'extreme'"
    )
    write(tmp_path, 'notify = "notify-send"\n')
    assert "notify: expected an array of strings, got 'notify-send'" in error(tmp_path)
    write(tmp_path, "[history]\npersistence = 3\n")
    assert "history.persistence: expected one of save-all, none, got integer 3" in error(tmp_path)


# --- unknown keys: warned about as Codex does, refused by strict, with the closest known key ----------


def test_a_typo_is_a_warning_with_did_you_mean_and_an_error_when_strict(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'modle = "x"\napproval_polcy = "untrusted"\n[history]\npersistance = "none"\n'
        '[model_providers.m]\nbase_url = "http://h"\nquery_param = { a = "b" }\n',
    )
    config = load(tmp_path)
    assert [str(k) for k in config.unknown_keys] == [
        f"{path}: unknown key 'modle' (did you mean 'model'?)",
        f"{path}: unknown key 'approval_polcy' (did you mean 'approval_policy'?)",
        f"{path}: unknown key 'history.persistance' (did you mean 'persistence'?)",
        f"{path}: unknown key 'model_providers.m.query_param' (did you mean 'query_params'?)",
    ]
    assert config.approval_policy == "never" and config.history_persistence == "save-all"
    assert config.warnings() == (
        "agentrt: warning: config keys that nothing reads, ignored: "
        + "; ".join(map(str, config.unknown_keys)),
    )
    assert error(tmp_path, strict=True) == "; ".join(map(str, config.unknown_keys))
    assert str(load(tmp_path / "other", overrides=["modle=y"]).unknown_keys[0]) == (
        "-c: unknown key 'modle' (did you mean 'model'?)"
    )


# --- profiles: [profiles.NAME] and $AGENTRT_HOME/NAME.config.toml --------------------------------------


def test_profile_file_is_layered_over_config_toml(tmp_path: Path) -> None:
    write(tmp_path, 'model = "base"\nmax_turns = 7\napproval_policy = "on-request"\n')
    write(
        tmp_path,
        'model = "fast"\nmodel_provider = "mine"\nnotify = ["x"]\n'
        '[model_providers.mine]\nbase_url = "http://127.0.0.1:9/v1"\nwire_api = "responses"\n',
        name="fast.config.toml",
    )
    config = load(tmp_path, profile="fast")
    assert (config.profile, config.model, config.max_turns) == ("fast", "fast", 7)
    assert config.approval_policy == "on-request"
    assert config.provider.base_url == "http://127.0.0.1:9/v1" and config.provider.wire_api == "responses"
    assert config.ignored_keys == ("notify",)
    assert load(tmp_path).model == "base"  # not selected: not read
    # -c and flags still beat the profile, as in Codex 0.169.
    assert load(tmp_path, profile="fast", overrides=["model=c"]).model == "c"
    assert load(tmp_path, profile="fast", flags={"model": "flag"}).model == "flag"
    # The selector in config.toml, or from -c, finds the file too.
    assert load(tmp_path, overrides=["profile=fast"]).model == "fast"
    write(tmp_path, 'profile = "fast"\nmodel = "base"\n')
    assert load(tmp_path).model == "fast"


def test_profile_file_errors_name_the_file(tmp_path: Path) -> None:
    own = write(tmp_path, "max_turns = 0\n", name="p.config.toml")
    assert error(tmp_path, profile="p") == f"{own}: max_turns: expected an integer >= 1, got integer 0"
    write(tmp_path, "profile = 'q'\n", name="p.config.toml")
    assert "unknown key 'profile'" in error(tmp_path, profile="p", strict=True)
    write(tmp_path, '[model_providers.openai]\nbase_url = "http://x"\n', name="p.config.toml")
    assert "'openai' is a built-in provider" in error(tmp_path, profile="p")


def test_a_profile_defined_both_ways_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.fast]\nmodel = "table"\n')
    own = write(tmp_path, 'model = "file"\n', name="fast.config.toml")
    assert error(tmp_path, profile="fast") == (
        f"profile 'fast' is defined twice, as [profiles.fast] in {path} and as {own}; keep one"
    )
    assert load(tmp_path).model != "table"  # defined is fine; selecting it is not


def test_unknown_profile_lists_both_kinds(tmp_path: Path) -> None:
    write(tmp_path, '[profiles.a]\nmodel = "ma"\n')
    write(tmp_path, 'model = "mb"\n', name="b.config.toml")
    assert error(tmp_path, profile="zz") == "-p: unknown profile 'zz' (known: a, b)"
    empty = tmp_path / "empty"
    assert error(empty, profile="zz") == (
        f"-p: unknown profile 'zz' (known: none; add [profiles.zz] to {empty / 'config.toml'} "
        f"or create {empty / 'zz.config.toml'})"
    )
    assert "unknown profile '../a'" in error(tmp_path, profile="../a")  # never a path outside the home


# --- providers ---------------------------------------------------------------------------------------


def test_a_users_local_provider_with_its_own_endpoint_replaces_the_builtin(tmp_path: Path) -> None:
    write(
        tmp_path,
        'model_provider = "local"\n[model_providers.local]\nname = "local"\n'
        'base_url = "http://127.0.0.1:5000/v1"\nenv_key = "LOCAL_KEY"\nwire_api = "responses"\n',
    )
    config = load(tmp_path)
    provider = config.provider
    assert (provider.name, provider.base_url, provider.wire_api) == (
        "local",
        "http://127.0.0.1:5000/v1",
        "responses",
    )
    assert provider.env_key == "LOCAL_KEY" and provider.requires_api_key  # theirs: a key it needs
    assert not provider.text_tools and provider.temperature is None  # none of llama.cpp's defaults
    assert provider.max_output_tokens is None and provider.base_prompt == "full"


def test_a_users_local_table_without_an_endpoint_tweaks_the_builtin(tmp_path: Path) -> None:
    write(tmp_path, 'model_provider = "local"\n[model_providers.local]\nname = "mine"\ntemperature = 0.3\n')
    provider = load(tmp_path).provider
    assert (provider.name, provider.temperature) == ("mine", 0.3)
    assert provider.text_tools and not provider.requires_api_key  # the built-in's, kept
    assert load(tmp_path).model == "local"  # no model set: the built-in's default


def test_openai_base_url_key_beats_the_environment(tmp_path: Path) -> None:
    write(tmp_path, 'openai_base_url = "http://127.0.0.1:7/v1"\n')
    provider = load_config(tmp_path, env={"OPENAI_BASE_URL": "http://127.0.0.1:8/v1"}).provider
    assert provider.base_url == "http://127.0.0.1:7/v1"


def test_bearer_token_and_key_instructions(tmp_path: Path) -> None:
    from agentrt.config import api_key_for

    write(
        tmp_path,
        'model_provider = "m"\n[model_providers.m]\nbase_url = "http://h"\nenv_key = "M_KEY"\n'
        'env_key_instructions = "create one at https://example.test/keys"\n',
    )
    provider = load(tmp_path).provider
    with pytest.raises(
        ConfigError, match=r"set M_KEY in the environment \(create one at https://example.test/keys\)"
    ):
        api_key_for(provider, {})
    token = load(tmp_path, overrides=["model_providers.m.experimental_bearer_token=tok"]).provider
    assert api_key_for(token, {}) == "tok"


def test_query_params_and_headers_reach_the_request(tmp_path: Path) -> None:
    seen: list[bytes] = []
    reply = (
        b"event: response.completed\ndata: "
        + json.dumps(
            {"type": "response.completed", "response": {"id": "r", "output": [], "usage": None}}
        ).encode()
        + b"\n\n"
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
        await reader.readexactly(int(match.group(1)) if match else 0)
        seen.append(head)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply)
        )
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        home = tmp_path / "home"
        write(home, codex_config(tmp_path, f"http://127.0.0.1:{port}/v1"))
        config = load(home)
        env = {"LOCAL_KEY": "k", "AGENTRT_TEST_PROJECT": "p1"}
        client = build_client(config.provider, config.model, env)
        try:
            await client.complete([{"role": "user", "content": "hi"}])
        finally:
            await client.aclose()
            server.close()
            await server.wait_closed()

    asyncio.run(main())
    [head] = seen
    assert head.startswith(b"POST /v1/responses?api-version=2025-04-01 HTTP/1.1\r\n")
    assert b"\r\nX-Team: blue\r\n" in head and b"\r\nX-Project: p1\r\n" in head


# --- agentrt runs a turn with it; the real Codex accepts it -------------------------------------------


def clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "CODEX_", "AGENTRT_"))
    }


def test_agentrt_exec_runs_a_turn_with_the_codex_config(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"content": "ran with the Codex config"}]))
    work = tmp_path / "work"
    work.mkdir()
    with SimProcess(["--policy", "script", "--script", str(script), "--model", "scripted"]) as sim:
        home = tmp_path / "home"
        write(home, codex_config(tmp_path, sim.url))
        env = clean_env() | {"AGENTRT_HOME": str(home), "LOCAL_KEY": "x", "HOME": str(tmp_path)}
        done = subprocess.run(
            [sys.executable, "-m", "agentrt", "exec", "--skip-git-repo-check", "say hi"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ran with the Codex config"


def run_codex(codex: Path, home: Path, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env() | {"CODEX_HOME": str(home), "LOCAL_KEY": "x"}
    argv = [str(codex), "exec", "--json", "--skip-git-repo-check", *args]
    return subprocess.run(
        argv, cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )


def test_real_codex_accepts_the_same_config_strictly(tmp_path: Path) -> None:
    codex = codex_binary()
    if codex is None:
        pytest.skip(SKIP_REASON)
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"content": "codex ran"}] * 2))
    work = tmp_path / "work"
    work.mkdir()
    with SimProcess(["--policy", "script", "--script", str(script), "--model", "scripted"]) as sim:
        home = tmp_path / "codex-home"
        write(home, codex_config(tmp_path, sim.url))
        # --strict-config: "Error out when config.toml contains fields that are not recognized".
        strict = run_codex(codex, home, work, "--strict-config", "say hi")
        # The control: a key Codex does not know fails the same run.
        write(home, codex_config(tmp_path, sim.url).replace("notify =", "notifyy ="))
        control = run_codex(codex, home, work, "--strict-config", "say hi")
    assert strict.returncode == 0, strict.stderr[-3000:]
    events = [json.loads(line) for line in strict.stdout.splitlines() if line.startswith("{")]
    assert "unrecognized configuration" not in strict.stdout
    assert [e["item"]["text"] for e in events if e.get("item", {}).get("type") == "agent_message"] == [
        "codex ran"
    ]
    assert control.returncode != 0 and "unknown configuration field `notifyy`" in control.stderr
