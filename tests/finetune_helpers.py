"""A tiny Llama model and byte-level tokenizer built offline from a config, for the fine-tuning tests.

About 100k parameters and a 259-token vocabulary (bytes + ChatML markers): a training step takes
milliseconds, and nothing is downloaded. Also peft adapter files written from numpy (the adapter export's tests).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class Ex:
    """An example as testbot.finetune.data.to_example makes them."""

    messages: list
    prefill: str
    completion: str


def examples() -> list[Ex]:
    """Four short examples: a prompt about a function, the prefill, and a test to learn."""
    out = []
    for name, value in (("double", 4), ("square", 9), ("negate", -3), ("halve", 2)):
        messages = [
            {"role": "system", "content": "Write tests."},
            {"role": "user", "content": f"Test `{name}` from m."},
        ]
        prefill = f"```python\nfrom m import {name}\n"
        out.append(Ex(messages, prefill, f"\ndef test_{name}():\n    assert {name}(x) == {value}\n```"))
    return out


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        initializer_range=0.3,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def peft_key(layer: int, module: str, ab: str) -> str:
    part = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
    return f"base_model.model.model.layers.{layer}.{part}.{module}.lora_{ab}.weight"


def write_safetensors(path: Path, tensors: dict, dtype: str = "F32") -> None:
    """A .safetensors file of numpy arrays as peft writes it, in F32, F16 or BF16 (bf16: float32's upper 16 bits),
    without torch or the safetensors package."""
    import numpy as np

    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        a = np.ascontiguousarray(array, dtype=np.float32)
        if dtype == "BF16":
            raw = (a.view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = a.astype("<f2" if dtype == "F16" else "<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
