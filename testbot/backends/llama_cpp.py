"""The llama_cpp backend: llama.cpp on the CPU through llama-cpp-python, with a GGUF model file.

Optional (``--backend llama_cpp``, ``pip install 'testbot[llama]'``): llama-cpp-python compiles llama.cpp at
install time, which can tune it to the machine (-march=native). The default backend, xllamacpp_backend, runs
the same llama.cpp from prebuilt wheels.

Mean log-probability: llama-cpp-python only returns logprobs with ``logits_all=True``, which keeps
a vocabulary-sized row for every prompt token (gigabytes at a 4k context). Instead a logits
processor sees each step's raw logits; at the next step it looks up the token that was sampled.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence

from testbot.errors import EnvironmentProblem, PromptTooLong
from testbot.generate import Completion
from testbot.model import resolve_model
from testbot.prompt import Prompt

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class _LogprobRecorder:
    """A logits processor that records the log-probability of each sampled token (temperature 1)."""

    def __init__(self, prompt_len: int) -> None:
        import numpy as np

        self._np = np
        self.prompt_len = prompt_len
        self.prev: tuple[object, float] | None = None  # (logits, logsumexp) of the previous step
        self.logprobs: list[float] = []

    def __call__(self, input_ids, logits):
        np = self._np
        if self.prev is not None and len(input_ids) > self.prompt_len:
            prev_logits, prev_lse = self.prev
            token = int(input_ids[-1])
            if 0 <= token < len(prev_logits):
                self.logprobs.append(float(prev_logits[token]) - prev_lse)
        row = np.array(logits, dtype=np.float64, copy=True)
        top = float(row.max())
        self.prev = (row, top + math.log(float(np.exp(row - top).sum())))
        return logits


def _amx_compiled() -> bool:
    import llama_cpp

    try:
        return "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode("utf-8", "ignore")
    except Exception:  # noqa: BLE001 - an old binding without the call: assume no AMX
        return False


@contextlib.contextmanager
def _model_params(use_extra_bufts: bool):
    """Load a model with llama.cpp's extra (repacked) weight buffers switched on or off.

    A library built with -march=native on a CPU that has AMX routes matrix products through AMX
    tiles; in virtual machines whose kernel does not grant the tile state this segfaults inside
    llama_decode (seen on this project's build machines). Without extra buffers the plain CPU path
    is used. scripts/llama_cmake_args.sh builds without AMX, so the fast path stays on there.
    """
    import llama_cpp.llama as llama_module

    original = llama_module.llama_cpp.llama_model_default_params

    def patched():
        params = original()
        params.use_extra_bufts = use_extra_bufts
        return params

    llama_module.llama_cpp.llama_model_default_params = patched
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


class LlamaCppBackend:
    def __init__(
        self,
        model: str = "default",
        *,
        context_tokens: int = 4096,
        threads: int = 0,
        llama_extra_buffers: bool = False,
        **_: object,
    ) -> None:
        mf = resolve_model(model)  # first: a wrong model path is reported as such, with or without llama-cpp-python
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError:
            raise EnvironmentProblem(
                "the llama_cpp backend needs llama-cpp-python: pip install 'testbot[llama]' "
                "(or pip install llama-cpp-python==0.3.36; it compiles llama.cpp: a C compiler and cmake); "
                "the default backend, xllamacpp, needs no compiler"
            ) from None
        self.name = mf.name
        self.path = mf.path
        self.lora = mf.lora
        st = mf.path.stat()
        self._file = (st.st_dev, st.st_ino, st.st_size)  # llama.cpp maps the file: it must not shrink under us
        extra_bufts = llama_extra_buffers or not _amx_compiled()
        try:
            with _model_params(extra_bufts):
                self.llm = Llama(
                    model_path=str(mf.path),
                    n_ctx=context_tokens,
                    n_threads=threads or os.cpu_count() or 2,
                    n_batch=512,
                    verbose=False,
                    seed=0,
                    lora_path=str(mf.lora) if mf.lora is not None else None,  # applied at scale 1
                )
        except (ValueError, RuntimeError, OSError) as exc:
            if mf.lora is not None:
                raise EnvironmentProblem(
                    f"llama.cpp cannot load {mf.path} with the LoRA adapter {mf.lora}: {exc}; a file may be "
                    "truncated or corrupt, or the adapter made for another base model"
                ) from None
            raise EnvironmentProblem(
                f"llama.cpp cannot load {mf.path}: {exc}; the file may be truncated or corrupt"
            ) from None
        if mf.lora is not None and not getattr(self.llm, "_lora_adapter", None):
            # llama-cpp-python tests the adapter's pointer against None, which a NULL pointer is not: a refused
            # adapter (another architecture, a wrong shape) would leave the base running alone.
            raise EnvironmentProblem(
                f"llama.cpp refused the LoRA adapter {mf.lora} on {mf.path}: the adapter may be corrupt or made "
                "for another base model"
            )
        meta = self.llm.metadata or {}
        template = meta.get("tokenizer.chat_template") or CHATML
        eos = self.llm.detokenize([self.llm.token_eos()]).decode("utf-8", "ignore")
        bos_id = self.llm.token_bos()
        bos = self.llm.detokenize([bos_id]).decode("utf-8", "ignore") if bos_id >= 0 else ""
        try:
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
            self._formatter(messages=[{"role": "user", "content": "x"}])
        except Exception:  # noqa: BLE001 - a template llama-cpp cannot render: fall back to ChatML
            self._formatter = Jinja2ChatFormatter(template=CHATML, eos_token=eos, bos_token=bos)
        self._add_bos = str(meta.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
        self._bos_text = bos

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def render(self, prompt: Prompt) -> str:
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        return self._formatter(messages=messages).prompt + prompt.prefill

    def _check_file(self) -> None:
        """A model file cut short in place while mapped would crash the next read with SIGBUS: say so instead.

        A file replaced by a new one (a rename, as testbot's own cache does it) is harmless: the old one
        stays mapped until testbot ends."""
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if (st.st_dev, st.st_ino) == self._file[:2] and st.st_size != self._file[2]:
            raise EnvironmentProblem(
                f"the model file {self.path} changed while testbot was using it ({self._file[2]} "
                f"bytes, now {st.st_size}); run testbot again once the file is complete"
            )

    def complete(
        self, prompt: Prompt, *, seed: int, temperature: float, top_p: float, max_tokens: int, stop: Sequence[str]
    ) -> Completion:
        self._check_file()
        text = self.render(prompt)
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        room = self.llm.n_ctx() - len(tokens) - 8
        if room < 64:
            raise PromptTooLong(
                f"prompt of {len(tokens)} tokens does not fit the {self.llm.n_ctx()}-token context; "
                "lower --prompt-tokens or raise --context-tokens"
            )
        recorder = _LogprobRecorder(len(tokens))
        start = time.monotonic()
        out = self.llm.create_completion(
            tokens,
            max_tokens=min(max_tokens, room),
            temperature=temperature,
            top_p=top_p,
            min_p=0.0,
            top_k=0,
            seed=seed,
            stop=list(stop),
            logits_processor=[recorder],
            repeat_penalty=1.0,
        )
        seconds = time.monotonic() - start
        generated = out["choices"][0]["text"]
        n = int(out.get("usage", {}).get("completion_tokens", len(recorder.logprobs)))
        mean = sum(recorder.logprobs) / len(recorder.logprobs) if recorder.logprobs else -99.0
        return Completion(
            text=prompt.prefill + generated,
            seed=seed,
            tokens=n,
            mean_logprob=mean,
            seconds=seconds,
            prompt_tokens=len(tokens),
        )
