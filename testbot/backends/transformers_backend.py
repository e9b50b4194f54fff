"""A backend on Hugging Face transformers: a base model plus, optionally, a LoRA adapter from ``testbot finetune``.

    testbot generate src/ --backend transformers --model small --adapter runs/smollm2/adapter

``--model`` is 'small', a .gguf path (converted once, see testbot.finetune.train.hf_folder) or a Hugging
Face model folder. The adapter is merged into the weights at load time, so sampling costs what the base
costs. Slower than llama.cpp on a CPU (float32 weights, no quantization): for a fast fine-tuned model,
export it to GGUF (testbot finetune --export) and use the llama_cpp backend.

Mean log-probability: the raw logits of each step (``output_logits``), log-softmax at temperature 1, at
the token that was sampled, as the llama_cpp backend measures it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from testbot.errors import EnvironmentProblem, FatalError, PromptTooLong
from testbot.generate import Completion
from testbot.prompt import Prompt


class TransformersBackend:
    def __init__(
        self,
        model: str = "small",
        *,
        adapter: str = "",
        device: str = "cpu",
        threads: int = 0,
        context_tokens: int = 4096,
        **_: object,
    ) -> None:
        try:
            import torch
            from testbot.finetune.train import load_base
        except ImportError:
            raise EnvironmentProblem(
                "the transformers backend needs torch, transformers and peft: pip install 'testbot[train]'"
            ) from None
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EnvironmentProblem("--device cuda: no CUDA GPU is visible to torch here; use --device cpu")
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.device = device
        self.context_tokens = context_tokens
        if model in ("", "default"):
            from testbot.model import STOCK, shipped_adapter

            if shipped_adapter() is not None:  # a llama.cpp adapter GGUF: not something transformers applies
                raise FatalError(
                    f"--model default carries testbot's LoRA adapter, which only llama.cpp applies: with the "
                    f"transformers backend use --model {STOCK} (the base alone), or a llama.cpp backend"
                )
        self.model, self.tokenizer, name = load_base(model, device)
        if adapter:
            folder = Path(adapter)
            if not (folder / "adapter_config.json").is_file():
                raise FatalError(
                    f"adapter {adapter}: no adapter_config.json there (pass the adapter/ folder that "
                    "testbot finetune --train wrote)"
                )
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, str(folder)).merge_and_unload()
            meta = folder / "testbot.json"
            label = json.loads(meta.read_text()).get("label", "") if meta.is_file() else ""
            name = f"{name}+{label or folder.resolve().parent.name or 'adapter'}"
        self.model.eval()
        self.name = name

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, prompt: Prompt) -> str:
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + prompt.prefill

    def complete(
        self, prompt: Prompt, *, seed: int, temperature: float, top_p: float, max_tokens: int, stop: Sequence[str]
    ) -> Completion:
        torch = self._torch
        ids = self.tokenizer(self.render(prompt), add_special_tokens=False, return_tensors="pt")["input_ids"]
        ids = ids.to(self.device)
        room = self.context_tokens - ids.shape[1] - 8
        if room < 64:
            raise PromptTooLong(
                f"prompt of {ids.shape[1]} tokens does not fit the {self.context_tokens}-token "
                "context; lower --prompt-tokens or raise --context-tokens"
            )
        torch.manual_seed(seed)
        sample = temperature > 0
        start = time.monotonic()
        with torch.no_grad():
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=min(max_tokens, room),
                do_sample=sample,
                temperature=temperature if sample else None,
                top_p=top_p if sample else None,
                top_k=0 if sample else None,
                stop_strings=list(stop) or None,
                tokenizer=self.tokenizer,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        seconds = time.monotonic() - start
        generated = out.sequences[0, ids.shape[1] :]
        logprobs = [
            float(torch.log_softmax(step_logits[0].float(), dim=-1)[token])
            for step_logits, token in zip(out.logits, generated.tolist())
        ]
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
        if cut >= 0:  # like llama.cpp: the stop sequence itself is not part of the answer
            text = text[:cut]
        mean = sum(logprobs) / len(logprobs) if logprobs else -99.0
        return Completion(
            text=prompt.prefill + text,
            seed=seed,
            tokens=len(logprobs),
            mean_logprob=mean,
            seconds=seconds,
            prompt_tokens=int(ids.shape[1]),
        )
