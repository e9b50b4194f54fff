"""A peft LoRA adapter written as a llama.cpp adapter GGUF (testbot finetune --export RUN --lora-gguf).

Synthetic adapters (numpy, written as safetensors by hand) with a few small blocks: the tensor names, shapes,
values and keys are read back with gguf's own reader; a llama-architecture base gets llama.cpp's q/k row
permutation on lora_B of q_proj and k_proj and nowhere else. tests/test_lora_real.py applies one to SmolLM2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from finetune_helpers import peft_key, write_safetensors
from testbot.errors import FatalError
from testbot.finetune import export
from testbot.finetune.export import LORA_TENSORS, export_lora, lora_to_gguf, permute_rows, read_safetensors

gguf = pytest.importorskip("gguf")

HIDDEN, INTER, N_HEAD, N_KV = 16, 24, 4, 2  # head_dim 4: q 16 -> 16, k and v 16 -> 8
KV = HIDDEN // N_HEAD * N_KV
DIMS = {  # module: (in, out)
    "q_proj": (HIDDEN, HIDDEN),
    "k_proj": (HIDDEN, KV),
    "v_proj": (HIDDEN, KV),
    "o_proj": (HIDDEN, HIDDEN),
    "gate_proj": (HIDDEN, INTER),
    "up_proj": (HIDDEN, INTER),
    "down_proj": (INTER, HIDDEN),
}


def make_adapter(
    folder: Path, *, r: int = 2, alpha: float = 4.0, layers: int = 2, dtype: str = "F32", seed: int = 0, **config
) -> dict[str, np.ndarray]:
    """A peft adapter folder on every projection of ``layers`` blocks; returns its tensors by peft key."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(layers):
        for module, (n_in, n_out) in DIMS.items():
            tensors[peft_key(i, module, "A")] = rng.standard_normal((r, n_in)).astype(np.float32)
            tensors[peft_key(i, module, "B")] = rng.standard_normal((n_out, r)).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    settings = {"peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": list(DIMS), "bias": "none"}
    (folder / "adapter_config.json").write_text(json.dumps({**settings, **config}))
    write_safetensors(folder / "adapter_model.safetensors", tensors, dtype)
    return tensors


def read_gguf(path: Path) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    reader = gguf.GGUFReader(str(path))
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    return fields, {t.name: np.array(t.data) for t in reader.tensors}


def test_tensors_get_llama_cpp_names_and_peft_shapes_and_the_keys_name_a_lora_adapter(tmp_path: Path):
    peft = make_adapter(tmp_path / "adapter")
    out = lora_to_gguf(tmp_path / "adapter", tmp_path / "out" / "lora.gguf", arch="qwen2", outtype="f32")
    fields, tensors = read_gguf(out)
    assert fields["general.architecture"] == "qwen2"
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == 4.0
    names = {f"blk.{i}.{LORA_TENSORS[m]}.weight.lora_{ab}" for i in range(2) for m in DIMS for ab in "ab"}
    assert set(tensors) == names
    for i in range(2):
        for module, (n_in, n_out) in DIMS.items():
            base = f"blk.{i}.{LORA_TENSORS[module]}.weight"
            a, b = tensors[base + ".lora_a"], tensors[base + ".lora_b"]
            assert a.shape == (2, n_in) and b.shape == (n_out, 2)  # as peft stores them: A [r, in], B [out, r]
            assert a.dtype == np.float32
            np.testing.assert_array_equal(a, peft[peft_key(i, module, "A")])
            np.testing.assert_array_equal(b, peft[peft_key(i, module, "B")])  # qwen2: no permutation
    assert [p.name for p in out.parent.iterdir()] == ["lora.gguf"]  # no temporary left


def test_f16_halves_the_tensors_and_a_bf16_adapter_is_read(tmp_path: Path):
    peft = make_adapter(tmp_path / "adapter", dtype="BF16")
    loaded = read_safetensors(tmp_path / "adapter" / "adapter_model.safetensors")
    for key, value in peft.items():  # bf16 keeps float32's upper 16 bits
        np.testing.assert_array_equal(loaded[key], (value.view(np.uint32) & 0xFFFF0000).view(np.float32))
    out = lora_to_gguf(tmp_path / "adapter", tmp_path / "lora.gguf", arch="qwen2")  # f16 by default
    _, tensors = read_gguf(out)
    a = tensors["blk.1.ffn_down.weight.lora_a"]
    assert a.dtype == np.float16
    np.testing.assert_allclose(a.astype(np.float32), loaded[peft_key(1, "down_proj", "A")], rtol=1e-3)


def test_tensors_split_over_several_files_are_read_together(tmp_path: Path):
    peft = make_adapter(tmp_path / "adapter", dtype="F16")
    (tmp_path / "adapter" / "adapter_model.safetensors").unlink()
    keys = sorted(peft)
    write_safetensors(tmp_path / "adapter" / "adapter-0.safetensors", {k: peft[k] for k in keys[:10]}, "F16")
    write_safetensors(tmp_path / "adapter" / "adapter-1.safetensors", {k: peft[k] for k in keys[10:]}, "F16")
    _, tensors = read_gguf(lora_to_gguf(tmp_path / "adapter", tmp_path / "lora.gguf", arch="qwen2"))
    assert len(tensors) == len(peft) == 28
    write_safetensors(tmp_path / "adapter" / "adapter-2.safetensors", {keys[0]: peft[keys[0]]})
    with pytest.raises(FatalError, match="more than one"):
        lora_to_gguf(tmp_path / "adapter", tmp_path / "lora.gguf", arch="qwen2")


def test_permute_rows_interleaves_the_halves_of_each_head():
    rows = np.arange(8).reshape(8, 1)
    assert permute_rows(rows, 2)[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    assert permute_rows(rows, 1)[:, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    with pytest.raises(FatalError):
        permute_rows(rows, 3)


def test_a_llama_base_permutes_lora_b_of_q_and_k_and_nothing_else(tmp_path: Path):
    peft = make_adapter(tmp_path / "adapter", layers=1)
    out = lora_to_gguf(
        tmp_path / "adapter", tmp_path / "lora.gguf", arch="llama", n_head=N_HEAD, n_head_kv=N_KV, outtype="f32"
    )
    fields, tensors = read_gguf(out)
    assert fields["general.architecture"] == "llama"

    def peft_tensor(module: str, ab: str) -> np.ndarray:
        return peft[peft_key(0, module, ab)]

    q_b = tensors["blk.0.attn_q.weight.lora_b"]
    k_b = tensors["blk.0.attn_k.weight.lora_b"]
    np.testing.assert_array_equal(q_b, permute_rows(peft_tensor("q_proj", "B"), N_HEAD))
    np.testing.assert_array_equal(k_b, permute_rows(peft_tensor("k_proj", "B"), N_KV))  # k: the key/value heads
    assert not np.array_equal(q_b, peft_tensor("q_proj", "B"))
    assert not np.array_equal(k_b, permute_rows(peft_tensor("k_proj", "B"), N_HEAD))
    for module in DIMS:
        np.testing.assert_array_equal(tensors[f"blk.0.{LORA_TENSORS[module]}.weight.lora_a"], peft_tensor(module, "A"))
        if module not in ("q_proj", "k_proj"):
            np.testing.assert_array_equal(
                tensors[f"blk.0.{LORA_TENSORS[module]}.weight.lora_b"], peft_tensor(module, "B")
            )
    with pytest.raises(FatalError, match="head counts"):
        lora_to_gguf(tmp_path / "adapter", tmp_path / "x.gguf", arch="llama")


def test_rslora_scales_by_the_square_root_of_the_rank(tmp_path: Path):
    make_adapter(tmp_path / "adapter", r=4, alpha=8.0, use_rslora=True)
    fields, _ = read_gguf(lora_to_gguf(tmp_path / "adapter", tmp_path / "lora.gguf", arch="qwen2"))
    # llama.cpp scales by alpha / r; peft's rsLoRA by lora_alpha / sqrt(r)
    assert math.isclose(fields["adapter.lora.alpha"] / 4, 8.0 / math.sqrt(4), rel_tol=1e-6)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(use_dora=True), "use_dora"),
        (dict(alpha_pattern={"q_proj": 32}), "alpha_pattern"),
        (dict(peft_type="IA3"), "IA3"),
    ],
)
def test_what_llama_cpp_has_no_lora_for_is_refused(tmp_path: Path, change, message):
    make_adapter(tmp_path / "adapter", **change)
    with pytest.raises(FatalError, match=message):
        lora_to_gguf(tmp_path / "adapter", tmp_path / "lora.gguf", arch="qwen2")
    assert not (tmp_path / "lora.gguf").exists()


def test_a_tensor_without_a_llama_cpp_counterpart_is_refused(tmp_path: Path):
    tensors = make_adapter(tmp_path / "adapter")
    tensors["base_model.model.lm_head.lora_A.weight"] = np.zeros((2, HIDDEN), np.float32)
    write_safetensors(tmp_path / "adapter" / "adapter_model.safetensors", tensors)
    with pytest.raises(FatalError, match="lm_head"):
        lora_to_gguf(tmp_path / "adapter", tmp_path / "lora.gguf", arch="qwen2")


def test_an_adapter_for_another_base_is_refused_before_llama_cpp_sees_it(tmp_path: Path):
    make_adapter(tmp_path / "adapter", layers=1)
    shapes = {f"blk.0.{LORA_TENSORS[m]}.weight": (n_in, n_out) for m, (n_in, n_out) in DIMS.items()}
    lora_to_gguf(tmp_path / "adapter", tmp_path / "ok.gguf", arch="qwen2", shapes=shapes)
    shapes["blk.0.ffn_up.weight"] = (HIDDEN, INTER * 2)
    with pytest.raises(FatalError, match="another base model"):
        lora_to_gguf(tmp_path / "adapter", tmp_path / "lora.gguf", arch="qwen2", shapes=shapes)


def tiny_gguf_base(path: Path, hidden: int = HIDDEN) -> Path:
    """A llama-architecture GGUF with the blocks' weight shapes (``hidden`` for the model's width), padded past
    resolve_model's 1 MB minimum."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_uint32("llama.attention.head_count", N_HEAD)
    writer.add_uint32("llama.attention.head_count_kv", N_KV)
    writer.add_tensor("token_embd.weight", np.zeros((1024, 288), np.float32))
    width = {HIDDEN: hidden}
    for i in range(2):
        for module, (n_in, n_out) in DIMS.items():
            shape = (width.get(n_out, n_out), width.get(n_in, n_in))
            writer.add_tensor(f"blk.{i}.{LORA_TENSORS[module]}.weight", np.zeros(shape, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_export_reads_the_base_named_in_testbot_json(tmp_path: Path):
    base = tiny_gguf_base(tmp_path / "base.gguf")
    run = tmp_path / "run"
    peft = make_adapter(run / "adapter")
    (run / "adapter" / "testbot.json").write_text(json.dumps({"base": str(base)}))
    out = export_lora(run)
    assert out == run / "adapter-f16.gguf"
    fields, tensors = read_gguf(out)
    assert fields["general.architecture"] == "llama" and fields["general.name"] == "base+run"
    q = permute_rows(peft[peft_key(0, "q_proj", "B")], N_HEAD)
    np.testing.assert_allclose(tensors["blk.0.attn_q.weight.lora_b"].astype(np.float32), q, rtol=1e-3)


def test_export_takes_a_hugging_face_folder_as_the_base(tmp_path: Path):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"model_type": "llama", "num_attention_heads": N_HEAD, "num_key_value_heads": N_KV})
    )
    peft = make_adapter(tmp_path / "adapter", layers=1)
    out = export_lora(tmp_path / "adapter", out=tmp_path / "x.gguf", base=str(folder), outtype="f32")
    _, tensors = read_gguf(out)
    k = permute_rows(peft[peft_key(0, "k_proj", "B")], N_KV)
    np.testing.assert_array_equal(tensors["blk.0.attn_k.weight.lora_b"], k)
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(FatalError, match="gpt2"):
        export_lora(tmp_path / "adapter", base=str(folder))


def test_the_command_writes_the_adapter_gguf(tmp_path: Path):
    base = tiny_gguf_base(tmp_path / "base.gguf")
    make_adapter(tmp_path / "run" / "adapter")
    run = run_cli(
        ["finetune", "--export", str(tmp_path / "run"), "--lora-gguf", str(tmp_path / "my.gguf"), "--base", str(base)],
        tmp_path,
    )
    assert run.code == 0, run.err
    assert f"--model {base}+{tmp_path / 'my.gguf'}" in run.out
    fields, _ = read_gguf(tmp_path / "my.gguf")
    assert fields["general.type"] == "adapter"
    run = run_cli(
        ["finetune", "--export", str(tmp_path / "run"), "--lora-gguf", "--base", str(base), "--outtype", "q8_0"],
        tmp_path,
    )
    assert run.code != 0 and "f16, f32" in run.err


def test_permutation_matches_llama_cpps_converter():
    """convert_hf_to_gguf.py's LlamaModel.permute, as written there, on a [out, r] matrix."""

    def reference(weights: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
        if n_head_kv is not None and n_head != n_head_kv:
            n_head = n_head_kv
        return (
            weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape)
        )

    b = np.random.default_rng(1).standard_normal((HIDDEN, 3))
    np.testing.assert_array_equal(permute_rows(b, N_HEAD), reference(b, N_HEAD, N_HEAD))
    k = b[:KV]
    np.testing.assert_array_equal(permute_rows(k, N_KV), reference(k, N_HEAD, N_KV))
    assert export.LORA_ARCHS == {"llama": True, "qwen2": False}


def _ship(tmp_path: Path, monkeypatch):
    """scripts/ship_adapter.py loaded against a copy of the package, on a tiny GGUF base: (module, root, base)."""
    import importlib.util

    from testbot import model

    checkout = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("ship_adapter", checkout / "scripts" / "ship_adapter.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    root = tmp_path / "checkout"
    (root / "testbot").mkdir(parents=True)
    source = (checkout / "testbot" / "model.py").read_text()
    assert source.count('\nADAPTER_SHA256 = "') == 1
    (root / "testbot" / "model.py").write_text(source)
    monkeypatch.setattr(ship, "ROOT", root)
    monkeypatch.setattr(model, "ADAPTER_FILE", root / "testbot" / "models" / "testbot-lora.gguf")
    monkeypatch.setattr(model, "ADAPTER_SHA256", "")
    monkeypatch.setattr(model, "_verified_adapters", {})
    base = tiny_gguf_base(tmp_path / "base.gguf")
    monkeypatch.setattr(model, "embedded_model", lambda full_verify=False: model.ModelFile(base, model.EMBEDDED_NAME))
    return ship, root, base


def test_ship_adapter_writes_the_package_file_and_its_sha256(tmp_path: Path, monkeypatch):
    """scripts/ship_adapter.py on a copy of the package: the adapter GGUF lands where model.ADAPTER_FILE points,
    model.py gets its hash, and 'default' then carries it."""
    import hashlib

    from testbot import model

    ship, root, base = _ship(tmp_path, monkeypatch)
    make_adapter(tmp_path / "adapter")
    assert ship.main([str(tmp_path / "adapter"), "--no-load"]) == 0
    shipped = root / "testbot" / "models" / "testbot-lora.gguf"
    digest = hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert f'\nADAPTER_SHA256 = "{digest}"\n' in (root / "testbot" / "model.py").read_text()
    assert model.resolve_model("default") == model.ModelFile(base, model.TUNED_NAME, shipped)
    fields, _ = read_gguf(shipped)
    assert fields["general.architecture"] == "llama" and fields["general.type"] == "adapter"


def test_ship_adapter_takes_an_exported_gguf_and_refuses_one_that_does_not_fit(tmp_path: Path, monkeypatch):
    """An adapter kept as a GGUF (benchmarks/finetune/adapters/) ships as it is; the base model itself, or an
    adapter whose tensors do not fit the base's weights, is refused with the reason."""
    import hashlib

    ship, root, base = _ship(tmp_path, monkeypatch)
    make_adapter(tmp_path / "adapter")
    kept = export_lora(tmp_path / "adapter", out=tmp_path / "kept.gguf", base=str(base))
    assert ship.main([str(kept), "--no-load"]) == 0
    shipped = root / "testbot" / "models" / "testbot-lora.gguf"
    assert shipped.read_bytes() == kept.read_bytes()
    digest = hashlib.sha256(kept.read_bytes()).hexdigest()
    assert f'\nADAPTER_SHA256 = "{digest}"\n' in (root / "testbot" / "model.py").read_text()
    with pytest.raises(FatalError, match="not a LoRA adapter"):
        ship.main([str(base), "--no-load"])
    wide = lora_to_gguf(tmp_path / "adapter", tmp_path / "wide.gguf", arch="llama", n_head=N_HEAD, n_head_kv=N_KV)
    other = tiny_gguf_base(tmp_path / "other.gguf", hidden=2 * HIDDEN)
    with pytest.raises(FatalError, match="do not fit"):
        export.check_lora_gguf(wide, str(other))
