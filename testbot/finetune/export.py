"""Export a LoRA adapter for llama.cpp: merged into its base as a GGUF model, or as a llama.cpp adapter GGUF.

    testbot finetune --export runs/smollm2 --outtype q8_0      # -> runs/smollm2/model-q8_0.gguf
    testbot generate src/ --model runs/smollm2/model-q8_0.gguf

The converter is llama.cpp's own ``convert_hf_to_gguf.py`` with its ``conversion`` package and the
``gguf-py`` package it was written against, both taken from the llama-cpp-python sdist of the version testbot pins (its ``vendor/llama.cpp``).
The sdist is fetched once with pip (``pip download llama-cpp-python==VERSION --no-binary :all: --no-deps``)
unless ``--llama-sdist`` names it; the two are unpacked under ``~/.cache/testbot/llama-convert/VERSION``.

The adapter alone (``--lora-gguf``, :func:`lora_to_gguf`) is a few MB to tens of MB, which llama.cpp applies
on top of the base file at load time (``--model BASE+ADAPTER.gguf``; testbot's own is part of ``--model
default``):

    testbot finetune --export runs/smollm2 --lora-gguf         # -> runs/smollm2/adapter-f16.gguf
    testbot generate src/ --model small+runs/smollm2/adapter-f16.gguf

It is written with the ``gguf`` package alone (no converter, no torch): peft's ``lora_A``/``lora_B`` matrices
under llama.cpp's tensor names (``blk.N.attn_q.weight.lora_a``, ...), ``adapter.lora.alpha`` so that llama.cpp
scales by alpha / r as peft does. For a ``llama``-architecture base, llama.cpp's GGUF holds the rows of the q
and k projections permuted relative to Hugging Face (``convert_hf_to_gguf.py``'s ``LlamaModel.permute``; its
rotary embedding pairs neighbouring dimensions), so the q and k ``lora_B`` rows get the same permutation;
``qwen2`` keeps Hugging Face's order.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbot import proc
from testbot.errors import EnvironmentProblem, FatalError

LLAMA_VERSION = "0.3.36"  # the llama-cpp-python pinned in pyproject's llama extra
OUTTYPES = ("q8_0", "f16", "bf16", "f32")  # what convert_hf_to_gguf.py writes without llama-quantize
LORA_OUTTYPES = ("f16", "f32")  # adapter tensors: f16 halves the file; llama.cpp reads both
# peft's module names -> llama.cpp's tensor names (of one block, blk.N.)
LORA_TENSORS = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
# llama.cpp architectures an adapter can be written for: whether its GGUF permutes the q/k rows
LORA_ARCHS = {"llama": True, "qwen2": False}
HF_ARCHS = {"llama": "llama", "qwen2": "qwen2"}  # a Hugging Face config's model_type -> llama.cpp architecture
_PEFT_KEY = re.compile(
    r"^base_model\.model\.model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$"
)


def converter(sdist: Path | None = None) -> Path:
    """The folder holding convert_hf_to_gguf.py and gguf-py/, unpacked once from the llama-cpp-python sdist."""
    from testbot.model import cache_dir

    folder = cache_dir() / "llama-convert" / LLAMA_VERSION
    if (folder / "convert_hf_to_gguf.py").is_file() and (folder / "conversion" / "__init__.py").is_file():
        return folder
    if sdist is None:
        download = cache_dir() / "llama-convert" / "sdist"
        download.mkdir(parents=True, exist_ok=True)
        res = proc.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(download),
                f"llama-cpp-python=={LLAMA_VERSION}",
            ],
            timeout=900,
        )
        found = sorted(download.glob(f"llama_cpp_python-{LLAMA_VERSION}.tar.gz"))
        if res.returncode != 0 or not found:
            raise EnvironmentProblem(
                f"cannot fetch the llama-cpp-python {LLAMA_VERSION} sdist for its GGUF converter "
                f"({res.output.strip()[-300:]}); download it and pass --llama-sdist FILE"
            )
        sdist = found[0]
    prefix = f"llama_cpp_python-{LLAMA_VERSION}/vendor/llama.cpp/"
    tmp = folder.with_name(folder.name + f".{os.getpid()}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        members = [
            m
            for m in tar.getmembers()
            if m.name == prefix + "convert_hf_to_gguf.py"
            or m.name.startswith((prefix + "gguf-py/", prefix + "conversion/"))
        ]
        if not members:
            raise EnvironmentProblem(f"{sdist} has no vendor/llama.cpp/convert_hf_to_gguf.py")
        for m in members:
            m.name = m.name.removeprefix(prefix)
        tar.extractall(tmp, members=members, filter="data")
    if (folder / "conversion" / "__init__.py").is_file():
        shutil.rmtree(tmp)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
    return folder


def merge(adapter: Path, dest: Path, *, base: str = "") -> Path:
    """Base + adapter merged into plain weights, saved as a Hugging Face folder (with the tokenizer)."""
    from peft import PeftModel

    from testbot.finetune.train import load_base

    meta = adapter / "testbot.json"
    base = base or (json.loads(meta.read_text())["base"] if meta.is_file() else "")
    if not base:
        raise FatalError(f"{adapter}: no testbot.json naming the base model; pass --base")
    model, tokenizer, _ = load_base(base)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def export(
    run: Path, *, outtype: str = "q8_0", base: str = "", sdist: Path | None = None, timeout: float = 1800
) -> Path:
    """``run`` is a --out folder of testbot finetune --train (or an adapter folder). Returns the GGUF path."""
    if outtype not in OUTTYPES:
        raise FatalError(f"--outtype {outtype}: pick one of {', '.join(OUTTYPES)}")
    adapter = _adapter_folder(run)
    out_dir = adapter.parent if adapter.name == "adapter" else adapter
    tool = converter(sdist)
    merged = merge(adapter, out_dir / "merged", base=base)
    gguf = out_dir / f"model-{outtype}.gguf"
    env = {**os.environ, "PYTHONPATH": str(tool / "gguf-py")}  # the gguf-py the script was written for
    res = proc.run(
        [
            sys.executable,
            str(tool / "convert_hf_to_gguf.py"),
            str(merged),
            "--outfile",
            str(gguf),
            "--outtype",
            outtype,
        ],
        timeout=timeout,
        env=env,
    )
    if res.returncode != 0 or not gguf.is_file():
        raise FatalError(f"convert_hf_to_gguf.py failed (exit {res.returncode}): {res.output.strip()[-1500:]}", 4)
    shutil.rmtree(merged)  # float32 weights, ~4x the GGUF: not needed once converted
    return gguf


@dataclass(frozen=True)
class BaseInfo:
    """What an adapter GGUF needs to know of its base: llama.cpp's architecture, the head counts (for the q/k
    permutation) and, for a GGUF base, each weight's shape as llama.cpp holds it (ne: [in, out])."""

    arch: str
    n_head: int = 0
    n_head_kv: int = 0
    shapes: dict[str, tuple[int, ...]] | None = None
    name: str = ""


def permute_rows(rows: Any, n_head: int) -> Any:
    """llama.cpp's order of a q or k projection's output rows (convert_hf_to_gguf.py's LlamaModel.permute, with
    n_head the query heads for q and the key/value heads for k): within each head, the first and second halves
    of the rotary dimensions interleave."""
    shape = rows.shape
    if n_head <= 0 or shape[0] % (2 * n_head):
        raise FatalError(f"cannot permute {shape[0]} rows for {n_head} heads")
    return rows.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


_SAFETENSORS_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


def read_safetensors(path: Path) -> dict[str, Any]:
    """The tensors of a .safetensors file as float32 numpy arrays; bf16 included (numpy has no bf16, and this
    needs no torch)."""
    import numpy as np

    data = path.read_bytes()
    if len(data) < 8:
        raise FatalError(f"{path}: not a safetensors file (too short)")
    (size,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + size])
    except ValueError:
        raise FatalError(f"{path}: not a safetensors file (no JSON header)") from None
    body = memoryview(data)[8 + size :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = info["dtype"]
        raw = body[start:end]
        if dtype == "BF16":
            array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype in _SAFETENSORS_DTYPES:
            array = np.frombuffer(raw, dtype=_SAFETENSORS_DTYPES[dtype]).astype(np.float32)
        else:
            raise FatalError(f"{path}: tensor {name} is {dtype}; a LoRA adapter should be F32, F16 or BF16")
        out[name] = array.reshape(info["shape"])
    return out


def _gguf():
    try:
        import gguf
    except ImportError:
        raise EnvironmentProblem(
            "writing an adapter GGUF needs the gguf package: pip install 'testbot[train]' (or gguf==0.17.1)"
        ) from None
    return gguf


def base_info(base: str) -> BaseInfo:
    """BaseInfo of a base spec: 'default'/'stock' (the embedded model), 'small', a .gguf path or a Hugging Face
    folder. A GGUF's own metadata is read (no weights are loaded); a folder's config.json."""
    from testbot.model import STOCK, resolve_model

    folder = Path(base).expanduser()
    if folder.is_dir():
        config_file = folder / "config.json"
        if not config_file.is_file():
            raise FatalError(f"base model folder {folder} has no config.json")
        config = json.loads(config_file.read_text())
        model_type = str(config.get("model_type", ""))
        if model_type not in HF_ARCHS:
            raise FatalError(
                f"base model {folder} is a {model_type or 'model of unknown type'}; an adapter GGUF can be "
                f"written for {', '.join(sorted(HF_ARCHS))} models"
            )
        heads = int(config.get("num_attention_heads") or 0)
        return BaseInfo(HF_ARCHS[model_type], heads, int(config.get("num_key_value_heads") or heads), None, folder.name)
    mf = resolve_model(STOCK if base in ("", "default") else base)
    gguf = _gguf()
    reader = gguf.GGUFReader(str(mf.path))
    arch = gguf_field(reader, "general.architecture") or ""
    if arch not in LORA_ARCHS:
        raise FatalError(
            f"base model {mf.path} is a llama.cpp '{arch}' model; an adapter GGUF can be written for "
            f"{', '.join(sorted(LORA_ARCHS))} models"
        )
    heads = gguf_field(reader, f"{arch}.attention.head_count") or 0
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    return BaseInfo(arch, heads, gguf_field(reader, f"{arch}.attention.head_count_kv") or heads, shapes, mf.name)


def gguf_field(reader: Any, key: str) -> Any:
    """A GGUF file's metadata value for ``key`` (a string or an integer), None where it has none."""
    f = reader.fields.get(key)
    if f is None or not f.data:
        return None
    value = f.parts[f.data[0]]
    return bytes(value).decode("utf-8") if f.types and f.types[0] == _gguf().GGUFValueType.STRING else int(value[0])


def check_lora_gguf(path: Path, base: str = "") -> None:
    """Refuse ``path`` unless it is a llama.cpp LoRA adapter GGUF for ``base`` (default: the embedded model):
    its type, its architecture, and each pair of tensors against the base weight it adapts."""
    info = base_info(base)
    gguf = _gguf()
    try:
        reader = gguf.GGUFReader(str(path))
    except (OSError, ValueError) as e:
        raise FatalError(f"{path}: not a GGUF file ({e})") from None

    def field(key: str) -> str:
        return str(gguf_field(reader, key) or "")

    if (field("general.type"), field("adapter.type")) != ("adapter", "lora"):
        raise FatalError(f"{path}: not a LoRA adapter GGUF (general.type '{field('general.type')}')")
    if field("general.architecture") != info.arch:
        raise FatalError(f"{path}: an adapter for '{field('general.architecture')}' models, the base is '{info.arch}'")
    tensors = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    if not tensors:
        raise FatalError(f"{path}: the adapter has no tensors")
    for name, a_shape in tensors.items():
        if not name.endswith(".lora_a"):
            continue
        weight = name.removesuffix(".lora_a")
        b_shape = tensors.get(weight + ".lora_b")
        shape = (info.shapes or {}).get(weight)
        # (ne order, as llama.cpp holds them: the weight [in, out], lora_a [in, r], lora_b [r, out])
        if b_shape is None or (shape is not None and (a_shape[0], b_shape[-1]) != (shape[0], shape[-1])):
            raise FatalError(f"{path}: {weight}'s adapter tensors {a_shape}, {b_shape} do not fit the base's {shape}")


def lora_to_gguf(
    adapter_dir: Path,
    out_path: Path,
    *,
    arch: str,
    n_head: int = 0,
    n_head_kv: int = 0,
    outtype: str = "f16",
    shapes: dict[str, tuple[int, ...]] | None = None,
    name: str = "",
) -> Path:
    """Write the peft adapter in ``adapter_dir`` (adapter_config.json + adapter_model.safetensors, or its tensors
    split over several .safetensors files; float32, float16 or bfloat16) as a llama.cpp LoRA adapter GGUF at
    ``out_path``.

    ``arch`` is the base's llama.cpp architecture ('qwen2', 'llama'); for 'llama' the head counts are needed
    (q and k rows are permuted as llama.cpp's GGUF holds them). ``shapes``: the base GGUF's weight shapes, to
    refuse an adapter made for another model here rather than when llama.cpp loads it."""
    import numpy as np

    gguf = _gguf()
    adapter_dir = Path(adapter_dir)
    if arch not in LORA_ARCHS:
        raise FatalError(f"adapter GGUF for a '{arch}' model: pick one of {', '.join(sorted(LORA_ARCHS))}")
    if outtype not in LORA_OUTTYPES:
        raise FatalError(f"adapter GGUF type {outtype}: pick one of {', '.join(LORA_OUTTYPES)}")
    permute = LORA_ARCHS[arch]
    if permute and (n_head <= 0 or n_head_kv <= 0):
        raise FatalError(f"an adapter for a '{arch}' model needs the base's head counts (q/k rows are permuted)")
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        raise FatalError(f"{adapter_dir}: no adapter_config.json (pass a peft adapter folder)")
    # peft's one file, or the tensors split over several .safetensors files (a file-size limit on the way here)
    weights_files = [adapter_dir / "adapter_model.safetensors"]
    if not weights_files[0].is_file():
        weights_files = sorted(adapter_dir.glob("*.safetensors"))
    if not weights_files:
        raise FatalError(f"{adapter_dir}: no adapter_model.safetensors (peft's .bin format is not read)")
    config = json.loads(config_file.read_text())
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise FatalError(f"{adapter_dir}: a {config.get('peft_type')} adapter; only LoRA adapters can be written")
    unsupported = [
        what
        for what, bad in (
            ("use_dora", bool(config.get("use_dora"))),
            ("alpha_pattern", bool(config.get("alpha_pattern"))),
            ("bias", config.get("bias", "none") not in (None, "none")),
            ("lora_bias", bool(config.get("lora_bias"))),
            ("fan_in_fan_out", bool(config.get("fan_in_fan_out"))),
            ("modules_to_save", bool(config.get("modules_to_save"))),
        )
        if bad
    ]
    if unsupported:
        raise FatalError(
            f"{adapter_dir}: adapter_config.json sets {', '.join(unsupported)}; llama.cpp has no such LoRA"
        )
    r, alpha = int(config.get("r") or 0), float(config.get("lora_alpha") or 0)
    if r <= 0 or alpha <= 0:
        raise FatalError(f"{adapter_dir}: adapter_config.json has r={r}, lora_alpha={alpha}")
    rslora = bool(config.get("use_rslora"))
    # llama.cpp scales by alpha / (each tensor's rank); peft by lora_alpha / r, or lora_alpha / sqrt(r) (rsLoRA).
    gguf_alpha = alpha * math.sqrt(r) if rslora else alpha

    state: dict[str, Any] = {}
    for weights_file in weights_files:
        part = read_safetensors(weights_file)
        twice = sorted(state.keys() & part.keys())
        if twice:
            raise FatalError(f"{adapter_dir}: tensor {twice[0]} is in more than one .safetensors file")
        state.update(part)
    pairs: dict[tuple[int, str], dict[str, Any]] = {}
    for key, array in state.items():
        m = _PEFT_KEY.match(key)
        if m is None or m.group(2) not in LORA_TENSORS:
            raise FatalError(
                f"{adapter_dir}: adapter tensor {key} has no llama.cpp counterpart here (supported: the "
                f"{', '.join(LORA_TENSORS)} projections of each block)"
            )
        if array.ndim != 2:
            raise FatalError(f"{adapter_dir}: adapter tensor {key} has shape {list(array.shape)}, expected 2-D")
        pairs.setdefault((int(m.group(1)), m.group(2)), {})[m.group(3)] = array
    if not pairs:
        raise FatalError(f"{adapter_dir}: adapter_model.safetensors holds no LoRA tensors")

    dtype = np.float16 if outtype == "f16" else np.float32
    tensors: list[tuple[str, Any]] = []
    for (layer, module), ab in sorted(pairs.items()):
        target = f"blk.{layer}.{LORA_TENSORS[module]}.weight"
        if set(ab) != {"A", "B"}:
            raise FatalError(f"{adapter_dir}: layer {layer} {module} has lora_{''.join(ab)} only")
        a, b = ab["A"], ab["B"]  # peft: A [r, in], B [out, r]; llama.cpp wants the same (ne [in, r], [r, out])
        rank = a.shape[0]
        if b.shape[1] != rank:
            raise FatalError(
                f"{adapter_dir}: layer {layer} {module}: lora_A {a.shape} and lora_B {b.shape} differ in rank"
            )
        if shapes is not None:
            want = shapes.get(target)
            if want is None or tuple(want[:2]) != (a.shape[1], b.shape[0]):
                raise FatalError(
                    f"{adapter_dir}: {module} of block {layer} maps {a.shape[1]} -> {b.shape[0]}, but the base's "
                    f"{target} is {'missing' if want is None else f'{want[0]} -> {want[1]}'}: the adapter was made "
                    "for another base model"
                )
        if rslora and rank != r:  # fold peft's scale into B where llama.cpp's alpha / rank differs
            b = b * ((alpha / math.sqrt(rank)) / (gguf_alpha / rank))
        if permute and module == "q_proj":
            b = permute_rows(b, n_head)
        elif permute and module == "k_proj":
            b = permute_rows(b, n_head_kv)
        tensors.append((f"{target}.lora_a", a))
        tensors.append((f"{target}.lora_b", b))

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    try:
        writer = gguf.GGUFWriter(str(tmp), arch)  # general.architecture
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, gguf_alpha)
        if name:
            writer.add_name(name)
        for tensor_name, array in tensors:
            writer.add_tensor(tensor_name, np.ascontiguousarray(array, dtype=dtype))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def _adapter_folder(run: Path) -> Path:
    adapter = run / "adapter" if (run / "adapter" / "adapter_config.json").is_file() else run
    if not (adapter / "adapter_config.json").is_file():
        raise FatalError(f"{run}: no adapter here (pass the --out folder of testbot finetune --train)")
    return adapter


def run_base(adapter: Path, base: str = "") -> str:
    """The base an adapter goes on: ``base`` if given, else the one its testbot.json names, else 'default'."""
    meta = adapter / "testbot.json"
    return base or (json.loads(meta.read_text()).get("base", "") if meta.is_file() else "") or "default"


def export_lora(run: Path, *, out: Path | None = None, base: str = "", outtype: str = "f16") -> Path:
    """``run``: a --out folder of testbot finetune --train, or a peft adapter folder. The base (``base``, else
    testbot.json's, else 'default') decides the architecture and is checked against the adapter's shapes.
    Returns the adapter GGUF (default: adapter-OUTTYPE.gguf beside the adapter folder)."""
    adapter = _adapter_folder(run)
    info = base_info(run_base(adapter, base))
    if out is None:
        out = (adapter.parent if adapter.name == "adapter" else adapter) / f"adapter-{outtype}.gguf"
    return lora_to_gguf(
        adapter,
        out,
        arch=info.arch,
        n_head=info.n_head,
        n_head_kv=info.n_head_kv,
        outtype=outtype,
        shapes=info.shapes,
        name=f"{info.name}+{adapter.resolve().parent.name if adapter.name == 'adapter' else adapter.name}",
    )


def command(args) -> int:
    lora_out = getattr(args, "lora_gguf", None)
    if lora_out is not None:  # --lora-gguf [FILE]: the adapter alone, for llama.cpp to apply at load time
        gguf = export_lora(
            Path(args.export),
            out=Path(lora_out) if lora_out else None,
            base=args.base or "",
            outtype=args.outtype or "f16",
        )
        base = run_base(_adapter_folder(Path(args.export)), args.base or "")
        print(
            f"wrote {gguf} ({gguf.stat().st_size / 1e6:.1f} MB); run it with: testbot generate PATH --model {base}+{gguf}"
        )
        return 0
    gguf = export(
        Path(args.export),
        outtype=args.outtype or "q8_0",
        base=args.base or "",
        sdist=Path(args.llama_sdist) if args.llama_sdist else None,
    )
    print(f"wrote {gguf} ({gguf.stat().st_size / 1e6:.0f} MB); run it with: testbot generate PATH --model {gguf}")
    return 0
