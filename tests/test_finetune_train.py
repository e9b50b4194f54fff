"""LoRA training on a tiny Llama built from a config: the loss goes down, the prompt is masked, resume continues."""

from __future__ import annotations

import json

import pytest

from finetune_helpers import build_tiny_model, examples
from testbot.finetune.train import IGNORE, TrainConfig, _epoch_order, batch_indices, encode, load_base, lr_at, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _cfg(out, **changes) -> TrainConfig:
    base = dict(
        base="",
        out=str(out),
        steps=20,
        batch_size=4,
        lr=1e-2,
        min_lr=1e-3,
        warmup_steps=3,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.1,
        log_every=5,
        checkpoint_every=5,
        seed=1,
        precision="fp32",
    )
    base.update(changes)
    return TrainConfig(**base)


def test_batches_see_every_example_once_an_epoch_and_appended_data_changes_them():
    drawn = [i for step in range(5) for micro in range(2) for i in batch_indices(10, 3, 0, step, micro, 2)]
    for epoch in range(3):  # each ten draws are one permutation of the ten examples
        assert sorted(drawn[10 * epoch : 10 * epoch + 10]) == list(range(10))
    assert drawn[:10] != drawn[10:20]  # a new order every epoch
    _epoch_order.cache_clear()  # resumable: step 4's batch depends on nothing drawn before it
    assert batch_indices(10, 3, 0, 4, 1, 2) == drawn[27:30]
    before = [batch_indices(972, 2, 0, s, 0) for s in range(50)]
    after = [batch_indices(1001, 2, 0, s, 0) for s in range(50)]
    assert sum(a == b for a, b in zip(before, after)) < 5


def test_labels_cover_the_completion_only(tiny):
    _, tokenizer, _ = load_base(str(tiny))
    ex = examples()[0]
    enc = encode(ex, tokenizer, max_length=512)
    trained = [t for t, label in zip(enc.input_ids, enc.labels) if label != IGNORE]
    assert tokenizer.decode(trained) == ex.completion + "<|im_end|>"
    masked = tokenizer.decode([t for t, label in zip(enc.input_ids, enc.labels) if label == IGNORE])
    assert masked.endswith("<|im_start|>assistant\n" + ex.prefill)  # chat template + prefill: not trained on
    assert "Test `double` from m." in masked
    # too long: the completion is cut, never the prompt; a prompt that does not fit is left out
    short = encode(ex, tokenizer, max_length=len(enc.input_ids) - 10)
    assert short.labels[: enc.labels.count(IGNORE)] == enc.labels[: enc.labels.count(IGNORE)]
    assert encode(ex, tokenizer, max_length=20) is None


def test_warmup_then_cosine():
    cfg = TrainConfig(steps=100, lr=1e-3, min_lr=1e-4, warmup_steps=10)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(55, cfg) == pytest.approx(5.5e-4)
    assert lr_at(100, cfg) == pytest.approx(1e-4)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 100))


def test_loss_goes_down_and_adapter_is_written(tiny, tmp_path):
    model, tokenizer, _ = load_base(str(tiny))
    lines: list[str] = []
    result = train(examples(), _cfg(tmp_path / "run"), model=model, tokenizer=tokenizer, log=lines.append)
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last < 0.7 * first, result.losses
    assert (result.adapter / "adapter_model.safetensors").is_file()
    assert json.loads((result.adapter / "adapter_config.json").read_text())["r"] == 8
    logged = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged] == [5, 10, 15, 20]
    assert all(entry["tokens_per_s"] > 0 for entry in logged)
    assert any(line.startswith("step 20/20  loss ") and "tok/s" in line for line in lines)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["peak_rss_mb"] > 0


def test_resume_continues_the_same_run(tiny, tmp_path):
    full = train(
        examples(),
        _cfg(tmp_path / "full"),
        model=load_base(str(tiny))[0],
        tokenizer=load_base(str(tiny))[1],
        log=lambda line: None,
    )

    class Stop(Exception):
        pass

    def interrupt(step, loss):
        if step == 10:
            raise Stop

    model, tokenizer, _ = load_base(str(tiny))
    with pytest.raises(Stop):
        train(
            examples(),
            _cfg(tmp_path / "cut"),
            model=model,
            tokenizer=tokenizer,
            log=lambda line: None,
            on_step=interrupt,
        )
    assert sorted(p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()) == ["step-000005", "step-000010"]
    model, tokenizer, _ = load_base(str(tiny))  # a fresh process: fresh base weights
    lines: list[str] = []
    resumed = train(examples(), _cfg(tmp_path / "cut", resume=True), model=model, tokenizer=tokenizer, log=lines.append)
    assert resumed.first_step == 10 and resumed.steps == 20
    assert any("resumed from" in line and "step-000010" in line for line in lines)
    assert resumed.losses == pytest.approx(full.losses[10:], rel=1e-4)


def test_lora_on_the_top_blocks_only(tiny, tmp_path):
    from safetensors.torch import load_file

    model, tokenizer, _ = load_base(str(tiny))
    result = train(
        examples(),
        _cfg(tmp_path / "top", steps=1, lora_top_layers=1, precision="fp32"),
        model=model,
        tokenizer=tokenizer,
        log=lambda line: None,
    )
    keys = load_file(str(result.adapter / "adapter_model.safetensors")).keys()
    assert keys and all(".layers.1." in k for k in keys)  # the tiny model has blocks 0 and 1
    assert json.loads((tmp_path / "top" / "summary.json").read_text())["config"]["precision"] == "fp32"


def test_bf16_on_a_cpu_without_avx512_warns(tiny, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    model, tokenizer, _ = load_base(str(tiny))
    lines: list[str] = []
    train(
        examples(),
        _cfg(tmp_path / "bf16", steps=1, precision="bf16"),
        model=model,
        tokenizer=tokenizer,
        log=lines.append,
    )
    assert any(
        line.startswith("warning: bf16 on a CPU without AVX512") and "--precision auto or fp32" in line
        for line in lines
    )
