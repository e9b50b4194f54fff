#!/bin/bash
# Join the default model's GGUF from PARTS (sent in pieces: a device call carries < 64 MiB), check its sha256,
# and train testbot's LoRA on it (benchmarks/finetune/train_gpu.py). Usage: gpu_train.sh PARTS OUT [args...]
set -o pipefail
parts=$1 out=$2
shift 2
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
mkdir -p "$out"
cat "$parts"/c* > /tmp/qwen.gguf
echo "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046  /tmp/qwen.gguf" | sha256sum -c || exit 3
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 benchmarks/finetune/train_gpu.py --gguf /tmp/qwen.gguf --data benchmarks/finetune/data/write-train.jsonl \
    --out "$out" "$@" 2>&1 | grep --line-buffered -v "it/s\]" | tee "$out/log.txt"
