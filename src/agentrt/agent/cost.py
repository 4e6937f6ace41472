"""What tokens cost: a price table shipped with agentrt (``data/prices.json``: its date and source in
the file), overridden or extended by ``[model_prices."NAME"]`` in config.toml.

A model is priced by its exact name, else by the longest table name it starts with (``gpt-5-codex-…``
→ ``gpt-5-codex``). A model with no price has an *unknown* cost — ``None``, shown as such, never 0.
Cached input tokens are charged at the cached price, the rest of the input at the input price.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentrt.events import TokenUsage

PER_TOKENS = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    cached_input: float
    output: float

    def cost(self, usage: TokenUsage) -> float:
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        fresh = usage.input_tokens - cached
        return (
            fresh * self.input + cached * self.cached_input + usage.output_tokens * self.output
        ) / PER_TOKENS


def shipped_prices() -> dict[str, Any]:
    """The shipped table: ``{"date", "source", "models": {name: {input, cached_input, output}}}``."""
    from importlib.resources import files

    text = (files("agentrt") / "agent" / "data" / "prices.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def price_for(model: str, user: Mapping[str, Any] | None = None) -> Price | None:
    """The price of ``model``: the user's table first, then the shipped one; ``None`` when unknown."""
    for table in (user or {}, shipped_prices()["models"]):
        found = _lookup(model, table)
        if found is not None:
            return found
    return None


def _lookup(model: str, table: Mapping[str, Any]) -> Price | None:
    name = model.lower().rsplit("/", 1)[-1]
    matches = [key for key in table if name == key.lower() or name.startswith(key.lower() + "-")]
    if not matches:
        return None
    entry = table[max(matches, key=len)]
    if not isinstance(entry, Mapping):
        return None
    try:
        values = [float(entry[k]) for k in ("input", "output")]
        cached = float(entry.get("cached_input", entry["input"]))
    except (KeyError, TypeError, ValueError):
        return None
    return Price(values[0], cached, values[1])


def cost_text(cost: float | None) -> str:
    """``$0.0123``; ``unknown`` when there is no price."""
    if cost is None:
        return "unknown"
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"
