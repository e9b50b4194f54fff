"""Canned completions for tests: no model, same pipeline.

In-process: ``FakeBackend().enqueue(["```python ...```"])``. From the CLI: ``--model fake:FILE`` where FILE
is JSON, either a list of completions served in order, or an object mapping a target id
(``pkg/m.py::f``), a qualname (``f``, ``C.m``) or ``"*"`` to such a list. A completion is a string or
``{"text": ..., "logprob": ...}``. When a list runs out, the completion is an empty code block.
Two more keys let tests interrupt a run while "the model" works: ``"touch": PATH`` creates that file
when the completion is requested, then ``"sleep": SECONDS`` waits before answering.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from testbot.errors import FatalError
from testbot.generate import Completion
from testbot.prompt import Prompt, estimate_tokens


class FakeBackend:
    name = "fake"

    def __init__(self, completions: dict[str, list[object]] | None = None) -> None:
        self.queues: dict[str, deque[object]] = {k: deque(v) for k, v in (completions or {}).items()}
        self.prompts: list[Prompt] = []  # every prompt seen, for assertions

    @classmethod
    def from_spec(cls, model: str, **_: object) -> FakeBackend:
        path = Path(model.removeprefix("fake:"))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FatalError(f"fake backend: cannot read completions from {path}: {exc}") from None
        if isinstance(data, list):
            data = {"*": data}
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise FatalError(f"fake backend: {path} must hold a list or an object of lists")
        return cls(data)

    def enqueue(self, completions: Sequence[object], key: str = "*") -> None:
        self.queues.setdefault(key, deque()).extend(completions)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def complete(
        self, prompt: Prompt, *, seed: int, temperature: float, top_p: float, max_tokens: int, stop: Sequence[str]
    ) -> Completion:
        self.prompts.append(prompt)
        qualname = prompt.key.partition("::")[2]
        for key in (prompt.key, qualname, "*"):
            queue = self.queues.get(key)
            if queue:
                item = queue.popleft()
                break
        else:
            item = "```python\n```"
        text, logprob = (item["text"], float(item.get("logprob", 0.0))) if isinstance(item, dict) else (str(item), 0.0)
        if isinstance(item, dict) and item.get("touch"):
            Path(item["touch"]).touch()
        if isinstance(item, dict) and item.get("sleep"):
            time.sleep(float(item["sleep"]))
        return Completion(
            text=text,
            seed=seed,
            tokens=estimate_tokens(text),
            mean_logprob=logprob,
            seconds=0.0,
            prompt_tokens=prompt.tokens,
        )
