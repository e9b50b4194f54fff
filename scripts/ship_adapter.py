"""Make a trained LoRA adapter part of ``--model default``: one command, then commit the two files it changes.

    python scripts/ship_adapter.py ADAPTER_DIR [--outtype f16]
    python scripts/ship_adapter.py ADAPTER.gguf      # an adapter exported already (benchmarks/finetune/adapters/)
    git add testbot/models/testbot-lora.gguf testbot/model.py

``ADAPTER_DIR`` is a peft adapter folder trained on the embedded model (Qwen2.5-Coder-1.5B-Instruct):
adapter_config.json and its tensors (adapter_model.safetensors, or split over several .safetensors files;
float32, float16 or bfloat16). The script writes it as a llama.cpp adapter GGUF to ``testbot/models/
testbot-lora.gguf`` (package data: the wheel ships it), checked tensor by tensor against the embedded model's
weight shapes (an adapter GGUF given instead is checked the same way and copied), sets ``ADAPTER_SHA256`` in
``testbot/model.py`` to the file's sha256, and loads ``default`` once with llama.cpp (``--no-load`` skips
that). ``--model stock`` stays the base alone.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbot.finetune.export import LORA_OUTTYPES, check_lora_gguf, export_lora  # noqa: E402


def set_sha256(model_py: Path, digest: str) -> None:
    text = model_py.read_text()
    new, n = re.subn(r'^ADAPTER_SHA256 = "[0-9a-f]*"$', f'ADAPTER_SHA256 = "{digest}"', text, flags=re.M)
    if n != 1:
        raise SystemExit(f"{model_py}: expected one line 'ADAPTER_SHA256 = \"...\"', found {n}")
    model_py.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "adapter", type=Path, help="the peft adapter folder (or a testbot finetune --out folder), or an adapter GGUF"
    )
    parser.add_argument("--outtype", default="f16", choices=LORA_OUTTYPES, help="tensor type (default: f16)")
    parser.add_argument("--no-load", action="store_true", help="do not load the result in llama.cpp")
    args = parser.parse_args(argv)

    from testbot import model

    target = model.ADAPTER_FILE
    # Always the embedded base, whatever the training run's testbot.json names: the shipped file must fit it.
    if args.adapter.suffix == ".gguf":
        check_lora_gguf(args.adapter, model.STOCK)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.adapter, target)
        out = target
    else:
        out = export_lora(args.adapter, out=target, base=model.STOCK, outtype=args.outtype)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    set_sha256(ROOT / "testbot" / "model.py", digest)
    model.ADAPTER_SHA256 = digest
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB), sha256 {digest}, into testbot/model.py")
    mf = model.resolve_model("default")
    assert mf.lora == out, mf
    if not args.no_load:
        from testbot.backends.xllamacpp_backend import XLlamaCppBackend

        backend = XLlamaCppBackend("default", context_tokens=512)
        print(f"llama.cpp loads it: --model default is {backend.name}")
        backend.close()
    print(f"now: git add {out.relative_to(ROOT)} testbot/model.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
