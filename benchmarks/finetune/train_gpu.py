"""Train testbot's LoRA on the default model, on one GPU, straight from the GGUF file.

    python benchmarks/finetune/train_gpu.py --gguf qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \\
        --data benchmarks/finetune/data/write-train.jsonl --out OUT [--steps 150]

Needs only torch, transformers, peft and gguf (no testbot dependency beyond its training loop), so it runs on a
bare GPU machine. The GGUF's weights are de-quantized by transformers into bfloat16 (the base stays frozen; the
adapter trains in float32 under bf16 autocast). The loop, schedule and optimizer are testbot's own
(``testbot.finetune.train.train``). 10 % of the examples are held back: their completion loss is printed before
and after. ``OUT`` receives the adapter as float16 safetensors in two halves (``adapter-0.safetensors``,
``adapter-1.safetensors``: each file stays under 16 MiB), ``adapter_config.json``, ``summary.json`` and a few
sample answers to held-back prompts (``samples.md``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from testbot.finetune.train import IGNORE, TrainConfig, collate, encode, train  # noqa: E402


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def held_loss(model, encoded, pad_id: int, device: str) -> float:
    import torch

    model.eval()
    total, n = 0.0, 0
    with torch.no_grad(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=device != "cpu"):
        for i in range(0, len(encoded), 4):
            ids, labels, mask = collate(encoded[i : i + 4], pad_id, device)
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            count = int((labels[:, 1:] != IGNORE).sum())
            total += float(out.loss) * count
            n += count
    model.train()
    return total / max(n, 1)


def samples(model, tokenizer, examples, device: str, n: int = 3, max_new: int = 320) -> str:
    import torch

    model.eval()
    parts = []
    for ex in examples[:n]:
        prompt = tokenizer.apply_chat_template(ex.messages, add_generation_prompt=True, tokenize=False) + ex.prefill
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(device)
        with torch.no_grad(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=device != "cpu"):
            out = model.generate(**ids, max_new_tokens=max_new, do_sample=False)
        text = tokenizer.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)
        parts.append(
            f"## {', '.join(ex.functions)}\n\n{ex.prefill}{text}\n\n(reference)\n{ex.prefill}{ex.completion}\n"
        )
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--work", default="/tmp/testbot-train-run", help="checkpoints and the float32 adapter")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--grad-accum", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--alpha", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--held-max", type=int, default=10**6, help="held-back examples the loss is measured on")
    ap.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    args = ap.parse_args(argv)

    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    gguf = Path(args.gguf).resolve()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    extra = {}
    try:  # transformers >= 5.2x keeps GGUF blocks packed unless told not to: training wants plain weights
        from transformers import GgufConfig

        extra["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:
        pass
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=dtype, **extra)
    model.hf_quantizer = None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = model.to(args.device)
    loaded = time.monotonic() - t0
    log(f"loaded {gguf.name} in {loaded:.0f} s")

    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    examples = [SimpleNamespace(**{**r, "functions": r.get("functions", [])}) for r in rows]
    # held back by function, so no function of a held-back example is trained on
    rng = random.Random(args.seed)
    functions = sorted({f for e in examples for f in e.functions})
    held_fns = set(rng.sample(functions, max(1, len(functions) // 10)))
    held = [e for e in examples if set(e.functions) & held_fns]
    trained = [e for e in examples if not set(e.functions) & held_fns]
    held_enc = [e for e in (encode(x, tokenizer, args.max_length) for x in held) if e is not None][: args.held_max]
    pad_id = tokenizer.pad_token_id
    cfg = TrainConfig(
        base=gguf.name,
        out=args.work,
        device=args.device,
        precision=args.precision,
        seed=args.seed,
        max_length=args.max_length,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        steps=args.steps,
        lr=args.lr,
        min_lr=args.lr / 10,
        warmup_steps=max(1, args.steps // 15),
        lora_r=args.r,
        lora_alpha=args.alpha,
        checkpoint_every=10**9,
        log_every=10,
    )
    before = held_loss(model, held_enc, pad_id, args.device) if held_enc else None
    log(f"{len(trained)} training examples, {len(held)} held back; held-back loss before {before}")
    result = train(trained, cfg, model=model, tokenizer=tokenizer, base_name=gguf.stem, log=log)
    # get_peft_model injected the adapter's layers into `model` in place: it is the tuned model now
    adapter_dir = Path(result.adapter)
    state = load_file(str(adapter_dir / "adapter_model.safetensors"))
    after = held_loss(model, held_enc, pad_id, args.device) if held_enc else None
    keys = sorted(state)
    half = len(keys) // 2
    for i, part in enumerate((keys[:half], keys[half:])):
        save_file({k: state[k].to(torch.float16).contiguous() for k in part}, str(out / f"adapter-{i}.safetensors"))
    (out / "adapter_config.json").write_text((adapter_dir / "adapter_config.json").read_text())
    summary = json.loads((Path(cfg.out) / "summary.json").read_text())
    summary.update(
        {
            "held_back_examples": len(held),
            "held_back_functions": sorted(held_fns),
            "held_back_loss_before": before,
            "held_back_loss_after": after,
            "load_seconds": round(loaded, 1),
            "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
            "torch": torch.__version__,
        }
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "train_log.jsonl").write_text((Path(cfg.out) / "train_log.jsonl").read_text())
    log(f"held-back loss {before} -> {after}")
    if args.samples:
        (out / "samples.md").write_text(samples(model, tokenizer, held, args.device, args.samples))
    log(f"all done in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
