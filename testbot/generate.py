"""Model backends behind one small Protocol and a registry; the pipeline samples k completions per round."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from testbot.errors import FatalError
from testbot.prompt import Prompt

if TYPE_CHECKING:
    from testbot.config import Settings

# Stop sequences: the end of the code block, the end of the chat turn, a script entry point.
STOP = ("\n```", "<|im_end|>", "<|endoftext|>", "\nif __name__")


@dataclass(frozen=True)
class Completion:
    text: str  # the assistant's answer, prefill included
    seed: int
    tokens: int  # generated tokens
    mean_logprob: float  # mean log-probability of the generated tokens (higher: the model is surer)
    seconds: float
    prompt_tokens: int = 0
    # The part of ``seconds`` spent reading the prompt and how many of its tokens were read (not served from the
    # backend's prompt cache); 0 where the backend does not say.
    read_seconds: float = 0.0
    read_tokens: int = 0


class Backend(Protocol):
    name: str  # model name, used in provenance comments and caches

    def count_tokens(self, text: str) -> int: ...

    def complete(
        self, prompt: Prompt, *, seed: int, temperature: float, top_p: float, max_tokens: int, stop: Sequence[str]
    ) -> Completion: ...


# name -> "module:factory"; factories take (model: str, settings) and return a Backend. Imported lazily.
REGISTRY: dict[str, str] = {
    "xllamacpp": "testbot.backends.xllamacpp_backend:XLlamaCppBackend",  # prebuilt llama.cpp: the default
    "llama_cpp": "testbot.backends.llama_cpp:LlamaCppBackend",  # llama-cpp-python, compiled from source
    "fake": "testbot.backends.fake:FakeBackend.from_spec",
    "openai": "testbot.backends.openai_compat:OpenAICompatBackend",
    "transformers": "testbot.backends.transformers_backend:TransformersBackend",
}


def backend_name_for(model: str, backend: str = "") -> str:
    if backend:
        if backend not in REGISTRY:
            raise FatalError(f"unknown backend '{backend}' (known: {', '.join(sorted(REGISTRY))})")
        return backend
    if model.startswith("fake:"):
        return "fake"
    if model.startswith(("http://", "https://")):  # an OpenAI-compatible server
        return "openai"
    if Path(model).is_dir():  # a Hugging Face model folder
        return "transformers"
    return gguf_backend()


def gguf_backend() -> str:
    """The backend for a GGUF model: xllamacpp, llama.cpp from prebuilt wheels that come with testbot, unless
    llama-cpp-python is installed too. That one is compiled on the machine, an extra step taken for speed:
    built with -march=native on a CPU with AVX-512 it reads prompts about twice as fast as the wheels, which
    are built for AVX2 (benchmarks/results/backends-*.md); where AVX2 is all there is, the two are alike."""
    if importlib.util.find_spec("llama_cpp") is not None:
        return "llama_cpp"
    return "xllamacpp"


def load_backend(model: str, backend: str = "", **options: object) -> Backend:
    name = backend_name_for(model, backend or ("transformers" if options.get("adapter") else ""))
    module_name, _, attr = REGISTRY[name].partition(":")
    factory: Callable[..., Backend] = importlib.import_module(module_name)  # type: ignore[assignment]
    for part in attr.split("."):
        factory = getattr(factory, part)
    return factory(model, **options)


def backend_options(s: Settings) -> dict[str, object]:
    """The load options of the settings' backend: every backend takes the ones it knows and ignores the rest."""
    return {
        "context_tokens": s.context_tokens,
        "threads": s.threads,
        "served_model": s.served_model,
        "adapter": s.adapter,
        "device": s.device,
        "openai_mode": s.openai_mode,
        "llama_verbosity": s.llama_verbosity,
        "llama_extra_buffers": s.llama_extra_buffers,
    }


def load_backend_for(s: Settings) -> Backend:
    return load_backend(s.model, s.backend, **backend_options(s))


class LazyBackend:
    """The settings' backend, loaded on first use with all of :func:`backend_options`: a run whose targets
    need no model never loads one. ``name`` is the settings' model until then."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.model
        self._loaded: Backend | None = None

    def load(self) -> Backend:
        if self._loaded is None:
            self._loaded = load_backend_for(self.settings)
            self.name = self._loaded.name
        return self._loaded

    def __getattr__(self, attr: str) -> object:  # the loaded backend's own extras (timings, cached_tokens)
        if attr.startswith("_") or self.__dict__.get("_loaded") is None:
            raise AttributeError(attr)
        return getattr(self._loaded, attr)

    def count_tokens(self, text: str) -> int:
        return self.load().count_tokens(text)

    def complete(
        self, prompt: Prompt, *, seed: int, temperature: float, top_p: float, max_tokens: int, stop: Sequence[str]
    ) -> Completion:
        return self.load().complete(
            prompt, seed=seed, temperature=temperature, top_p=top_p, max_tokens=max_tokens, stop=stop
        )
