"""The transformers backend: a tiny model with a trained adapter, and SmolLM2 once (real weights, converted from its GGUF)."""

from __future__ import annotations

import pytest

from finetune_helpers import build_tiny_model, examples
from testbot.errors import FatalError
from testbot.finetune.train import TrainConfig, load_base, train
from testbot.generate import STOP, load_backend
from testbot.prompt import Prompt


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny base model and an adapter trained to answer every prompt with one memorised test."""
    base = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    ex = examples()[0]
    same = [ex] * 4
    model, tokenizer, _ = load_base(str(base))
    cfg = TrainConfig(
        base=str(base),
        out=str(tmp_path_factory.mktemp("run")),
        steps=40,
        batch_size=4,
        lr=3e-2,
        min_lr=3e-3,
        warmup_steps=3,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        log_every=40,
        checkpoint_every=40,
        precision="fp32",
    )
    result = train(same, cfg, model=model, tokenizer=tokenizer, log=lambda line: None)
    return base, result.adapter, ex


def _prompt(ex) -> Prompt:
    system, user = (m["content"] for m in ex.messages)
    return Prompt("m.py::double", 0, system, user, ex.prefill, 20)


def test_adapter_changes_what_the_model_writes(tuned):
    base, adapter, ex = tuned
    tuned_backend = load_backend(str(base), adapter=str(adapter))  # an adapter picks the transformers backend
    plain = load_backend(str(base))  # a model folder does too
    assert type(tuned_backend).__name__ == type(plain).__name__ == "TransformersBackend"
    assert tuned_backend.name == "model+run0" and plain.name == "model"
    prompt = _prompt(ex)
    out = tuned_backend.complete(prompt, seed=0, temperature=0.0, top_p=1.0, max_tokens=80, stop=STOP)
    # the memorised test, cut before the stop sequence (the closing fence), prefill included
    assert out.text == ex.prefill + ex.completion.removesuffix("\n```")
    assert out.prompt_tokens == plain.count_tokens(plain.render(prompt))
    assert out.prompt_tokens == len(plain.render(prompt).encode()) - 3 * (len("<|im_start|>") - 1) - 2 * (
        len("<|im_end|>") - 1
    )
    assert out.mean_logprob > -0.5  # the tuned model is sure of it
    untuned = plain.complete(prompt, seed=0, temperature=0.0, top_p=1.0, max_tokens=20, stop=STOP)
    assert untuned.text != out.text and untuned.mean_logprob < out.mean_logprob
    assert untuned.tokens == 20


def test_sampling_is_seeded(tuned):
    base, _, ex = tuned
    backend = load_backend(str(base))
    prompt = _prompt(ex)
    a, b, c = (backend.complete(prompt, seed=s, temperature=1.0, top_p=0.95, max_tokens=12, stop=()) for s in (1, 1, 2))
    assert a.text == b.text and a.mean_logprob == b.mean_logprob
    assert a.text != c.text


def test_adapter_folder_must_be_an_adapter(tuned, tmp_path):
    base, _, _ = tuned
    with pytest.raises(FatalError, match="no adapter_config.json"):
        load_backend(str(base), adapter=str(tmp_path))


def test_default_with_testbots_adapter_asks_for_stock(monkeypatch, tmp_path):
    """testbot's adapter for the default model is a llama.cpp GGUF: transformers would run the base alone."""
    from testbot import model

    monkeypatch.setattr(model, "shipped_adapter", lambda: tmp_path / "testbot-lora.gguf")
    with pytest.raises(FatalError, match="--model stock"):
        load_backend("default", backend="transformers")


@pytest.mark.slow
def test_smollm2_from_its_gguf():
    """'small' is the SmolLM2 GGUF: converted to a Hugging Face folder once, then loaded from the cache."""
    backend = load_backend("small", backend="transformers")
    assert backend.name == "smollm2-135m-instruct-q4_1"
    prompt = Prompt(
        "m.py::add",
        0,
        "You write pytest tests.",
        "Write a pytest test for `add(a, b)` from module `m`, which returns a + b.",
        "```python\nfrom m import add\n\n\ndef test_",
        40,
    )
    out = backend.complete(prompt, seed=0, temperature=0.0, top_p=1.0, max_tokens=40, stop=STOP)
    assert out.text.startswith(prompt.prefill) and len(out.text) > len(prompt.prefill)
    assert 0 < out.tokens <= 40 and -10 < out.mean_logprob < 0
    assert backend.count_tokens("def test_add():") < len("def test_add():")
