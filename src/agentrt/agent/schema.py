"""``--output-schema``: check the final answer against the user's JSON Schema (jsonschema, loaded on use)."""

from __future__ import annotations

from typing import Any


def validation_error(value: Any, schema: dict[str, Any]) -> str | None:
    """``None`` when ``value`` satisfies ``schema``; otherwise the first problem, in one line."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the top level"
    return f"at {where}: {error.message}"


def schema_problem(schema: dict[str, Any]) -> str | None:
    """``None`` when ``schema`` is itself a valid JSON Schema."""
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        return str(exc.message)
    return None
