"""Merge a LoRA adapter into its base and write a GGUF file, so the fast llama_cpp backend runs the tuned model.

    testbot finetune --export runs/smollm2 --outtype q8_0      # -> runs/smollm2/model-q8_0.gguf
    testbot generate src/ --model runs/smollm2/model-q8_0.gguf

The converter is llama.cpp's own ``convert_hf_to_gguf.py`` with its ``conversion`` package and the
``gguf-py`` package it was written against, both taken from the llama-cpp-python sdist of the version testbot pins (its ``vendor/llama.cpp``).
The sdist is fetched once with pip (``pip download llama-cpp-python==VERSION --no-binary :all: --no-deps``)
unless ``--llama-sdist`` names it; the two are unpacked under ``~/.cache/testbot/llama-convert/VERSION``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
from pathlib import Path

from testbot import proc
from testbot.errors import EnvironmentProblem, FatalError

LLAMA_VERSION = "0.3.36"  # the llama-cpp-python pinned in pyproject's llama extra
OUTTYPES = ("q8_0", "f16", "bf16", "f32")  # what convert_hf_to_gguf.py writes without llama-quantize


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
    adapter = run / "adapter" if (run / "adapter" / "adapter_config.json").is_file() else run
    if not (adapter / "adapter_config.json").is_file():
        raise FatalError(f"{run}: no adapter here (pass the --out folder of testbot finetune --train)")
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


def command(args) -> int:
    gguf = export(
        Path(args.export),
        outtype=args.outtype,
        base=args.base or "",
        sdist=Path(args.llama_sdist) if args.llama_sdist else None,
    )
    print(f"wrote {gguf} ({gguf.stat().st_size / 1e6:.0f} MB); run it with: testbot generate PATH --model {gguf}")
    return 0
