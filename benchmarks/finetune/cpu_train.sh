#!/bin/bash
# Train testbot's LoRA for the default model (Qwen2.5-Coder-1.5B-Instruct) on this machine's CPU, resumably:
#   bash benchmarks/finetune/cpu_train.sh [OUT] [more testbot finetune flags, e.g. --resume]
# bf16 autocast (AMX/AVX-512 bf16: ~140 tokens/s of training on 2 cores), LoRA rank 8 on every projection of the
# top 16 of 28 blocks (the backward pass stops there), 100 steps of 8 examples (~1.4 epochs of write-train.jsonl),
# a checkpoint every 10 steps. An interrupted run continues with --resume and sees the same batches. Ends with the
# adapter exported as a GGUF (--lora-gguf).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-benchmarks/finetune/runs/qwen-write-cpu}
shift || true
data=benchmarks/finetune/data/write-train.jsonl
[ -f "$data" ] || python benchmarks/finetune/write_data.py --out "$data"
python -m testbot finetune --train "$data" --base stock --out "$out" \
    --steps 100 --batch-size 1 --grad-accum 8 --max-length 2048 --lora-top-layers 16 --lora-r 8 --lora-alpha 16 \
    --lr 2e-4 --min-lr 2e-5 --warmup-steps 8 --precision bf16 --seed 0 --log-every 1 --checkpoint-every 10 "$@"
# The adapter as a GGUF llama.cpp applies at load (~10 MB): "$out/adapter-f16.gguf". Runs are not tracked; copy
# it to benchmarks/finetune/adapters/ to keep it for evaluation in a later session.
python -m testbot finetune --export "$out" --lora-gguf
