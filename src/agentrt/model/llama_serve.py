"""``python -m agentrt.model.llama_serve ARGS``: llama-cpp-python's server (``python -m
llama_cpp.server ARGS``, same options) with a prompt cache that stays within its ``--cache_size``.

The server's RAM cache counts only llama.cpp's part of each saved state. Every state also carries a
copy of the logits (up to ``n_batch`` x vocabulary floats: 297 MiB for Qwen2.5 at ``n_batch`` 512),
so a cache of a "512 MiB" budget held 16.7 GiB of server memory over 30 HumanEval tasks
(``benchmarks/results/humaneval-local-retry``, sitting 4). Here each state counts whole and the
least recently used go first, and the logits are kept to their last row (``trim_scores``: a restored
state never samples from them), so a state is llama.cpp's part and little more.

Run only as the server's own process: it imports llama-cpp-python, which nothing else here loads.
"""

from __future__ import annotations

from typing import Any


def counted_cache_size(states: Any) -> int:
    """The bytes the saved ``states`` (llama-cpp-python ``LlamaState``s) hold: llama.cpp's state, the
    logits and the token ids."""
    return sum(int(s.llama_state_size) + int(s.scores.nbytes) + int(s.input_ids.nbytes) for s in states)


def counted_cache(llama_cpp: Any) -> type:
    """``llama_cpp.LlamaRAMCache`` with each saved state counted whole, and stored without all but the
    last row of its logits (see the module docstring)."""

    class CountedRAMCache(llama_cpp.LlamaRAMCache):  # type: ignore[misc]
        @property
        def cache_size(self) -> int:
            return counted_cache_size(self.cache_state.values())

        def __setitem__(self, key: Any, value: Any) -> None:
            trim_scores(value)
            super().__setitem__(key, value)

    return CountedRAMCache


def trim_scores(state: Any) -> None:
    """Keep only the last row of a saved state's logits (``scores``). A restored state never samples
    from them: llama-cpp-python marks it as needing a decode and replays at least one token, whose
    logits replace them (``Llama.generate``); restoring copies the row kept into every row."""
    scores = state.scores
    if getattr(scores, "ndim", 0) == 2 and scores.shape[0] > 1:
        state.scores = scores[-1:].copy()


def main() -> None:
    import llama_cpp
    from llama_cpp.server.__main__ import main as serve

    llama_cpp.LlamaRAMCache = counted_cache(llama_cpp)  # type: ignore[attr-defined]  # the server reads this name
    serve()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
