"""The ``request_user_input`` tool: ``{questions: [{id, header, question, options: [{label,
description}]}]}``, Codex's shape.

Codex offers it to the model in every mode but answers it only in Plan mode; elsewhere (``codex exec``
included) the call returns, as text, that the tool is unavailable in Default mode (captured from
Codex 0.169: ``request_user_input is unavailable in Default mode``). agentrt has no Plan mode, so
this tool checks the questions' shape and gives that answer in its own words; nothing reaches a
person and the turn goes on.
"""

from __future__ import annotations

from typing import Any

from agentrt.tools.registry import ToolArgumentError, ToolContext, function_spec

UNAVAILABLE = (
    "request_user_input is unavailable in Default mode: it works only in Plan mode, so no question "
    "was shown to the user. Continue without the answer (make and state a reasonable assumption)."
)

_OPTION = {
    "type": "object",
    "properties": {
        "description": {"type": "string", "description": "One sentence on what choosing it means."},
        "label": {"type": "string", "description": "The choice, in a few words."},
    },
    "required": ["label", "description"],
    "additionalProperties": False,
}
_QUESTION = {
    "type": "object",
    "properties": {
        "header": {
            "type": "string",
            "description": "A short title for the question (12 characters or fewer).",
        },
        "id": {"type": "string", "description": "An identifier for the answer, in snake_case."},
        "options": {
            "type": "array",
            "description": "Two or three choices that exclude each other, the recommended one first.",
            "items": _OPTION,
        },
        "question": {"type": "string", "description": "The question, in one sentence."},
    },
    "required": ["id", "header", "question", "options"],
    "additionalProperties": False,
}


class RequestUserInputTool:
    name = "request_user_input"
    read_only = True

    def spec(self) -> dict[str, Any]:
        return function_spec(
            "request_user_input",
            "Ask the user one to three short multiple-choice questions and wait for the answers. "
            "Only available in Plan mode.",
            {
                "questions": {
                    "type": "array",
                    "description": "The questions; one is best, three at most.",
                    "items": _QUESTION,
                }
            },
            ["questions"],
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        check_questions(args["questions"])
        return UNAVAILABLE


def check_questions(questions: list[Any]) -> None:
    """Raise ``ToolArgumentError`` unless ``questions`` has the spec's shape."""
    for n, question in enumerate(questions, 1):
        if not isinstance(question, dict):
            raise ToolArgumentError(f"question {n} must be an object")
        _check_object(question, _QUESTION, f"question {n}")
        for m, option in enumerate(question["options"], 1):
            if not isinstance(option, dict):
                raise ToolArgumentError(f"option {m} of question {n} must be an object")
            _check_object(option, _OPTION, f"option {m} of question {n}")


def _check_object(value: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    props: dict[str, Any] = schema["properties"]
    missing = [k for k in schema["required"] if k not in value]
    if missing:
        raise ToolArgumentError(f"{where} lacks {', '.join(missing)}")
    for key, item in value.items():
        kind = props.get(key, {}).get("type")
        if kind is None:
            raise ToolArgumentError(f"{where} has an unknown key {key!r}")
        if not isinstance(item, str if kind == "string" else list):
            raise ToolArgumentError(f"{where}: {key!r} must be of type {kind}")
