"""request_user_input: Codex's shape, and the same answer Codex gives outside Plan mode."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from agentrt.events import ItemIds, Recorder
from agentrt.messages import ToolCall
from agentrt.model.responses import to_tool
from agentrt.tools.registry import ToolContext, ToolRegistry
from agentrt.tools.user_input import UNAVAILABLE, RequestUserInputTool
from codex_peer import without_descriptions

QUESTION = {
    "id": "db_choice",
    "header": "Database",
    "question": "Which database should the service use?",
    "options": [
        {"label": "Postgres (Recommended)", "description": "Matches production."},
        {"label": "SQLite", "description": "No server to run."},
    ],
}

CODEX_PARAMETERS = {  # Codex 0.169's request_user_input, descriptions removed
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "header": {"type": "string"},
                    "id": {"type": "string"},
                    "options": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"description": {"type": "string"}, "label": {"type": "string"}},
                            "required": ["label", "description"],
                            "additionalProperties": False,
                        },
                    },
                    "question": {"type": "string"},
                },
                "required": ["id", "header", "question", "options"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["questions"],
    "additionalProperties": False,
}


def ask(tmp_path: Path, args: Any) -> str:
    ctx = ToolContext(cwd=tmp_path, emit=Recorder().emit, ids=ItemIds())
    call = ToolCall("c", "request_user_input", json.dumps(args))
    return asyncio.run(ToolRegistry([RequestUserInputTool()]).dispatch(call, ctx))


def test_outside_plan_mode_it_says_it_is_unavailable(tmp_path: Path) -> None:
    out = ask(tmp_path, {"questions": [QUESTION]})
    assert out == UNAVAILABLE
    assert out.startswith("request_user_input is unavailable in Default mode")  # Codex 0.169's words


def test_malformed_questions_are_argument_errors(tmp_path: Path) -> None:
    no_options = {k: v for k, v in QUESTION.items() if k != "options"}
    extra = {**QUESTION, "multi": True}
    bad_option = {**QUESTION, "options": ["Postgres"]}
    bad_label = {**QUESTION, "options": [{"label": 3, "description": "x"}]}
    for questions, says in [
        ([no_options], "lacks options"),
        ([extra], "unknown key 'multi'"),
        ([bad_option], "option 1 of question 1 must be an object"),
        ([bad_label], "'label' must be of type string"),
        (["why?"], "question 1 must be an object"),
    ]:
        out = ask(tmp_path, {"questions": questions})
        assert out.startswith("error: invalid arguments for request_user_input") and says in out, out


def test_the_spec_has_codexs_shape() -> None:
    sent = to_tool(RequestUserInputTool().spec())
    assert (sent["name"], sent["strict"]) == ("request_user_input", False)
    assert without_descriptions(sent["parameters"]) == CODEX_PARAMETERS
