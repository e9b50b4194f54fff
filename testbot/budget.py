"""The run's time (``--budget``) in one place: when it ends, what each phase may take of it, how long an answer
the model can still give, and how long each phase took.

Without ``--budget`` nothing here limits anything (every deadline is ``math.inf``): only ``--target-seconds``
bounds a target's turn.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

# Of the time left when a phase starts, the most it takes (under --budget):
SEARCH_SHARE = 1 / 3  # the search (--explore): half searching, half running its calls as tests
FINAL_SHARE = 0.2  # kept back, after the first search, for the second search at the end
WRITE_SHARE = 0.85  # the write prompts (--write), shared between the files
GROUP_SHARE = 0.5  # the group prompts (--group), shared between the files
MUTANTS_SHARE = 0.3  # of the time kept back at the end, kept back again for the mutants phase (--mutants)
MUTANTS_SECONDS = 30.0  # without --budget: the mutants phase's time per file
# Tokens a second (prompt reading included) assumed before the first completion is timed: the embedded model on
# a 2-core CPU.
FIRST_SPEED = 8.0
# The same, apart, for a prompt of known length: prompt tokens read and answer tokens written a second (the
# embedded model on a 2-core CPU reads ~60 and writes ~18: a little less is assumed).
FIRST_READ_SPEED = 55.0
FIRST_WRITE_SPEED = 16.0
# A target's share is at least the time for an answer this long (two or three short tests).
USEFUL_TOKENS = 192
# A completion shorter than this rarely holds a whole test: below it, a target's time is spent.
MIN_TOKENS = 64


class Budget:
    """Deadlines and the model's measured speed for one run."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds  # 0: no limit
        self.end = math.inf
        self.phases: dict[str, float] = {}  # seconds each phase took (Report.phases)
        self._decoded = (0, 0.0)  # (tokens, seconds) of the run's completions: the model's speed here
        # Of the completions whose backend says how long reading the prompt took: (prompt tokens read, seconds
        # reading them, answer tokens, seconds writing them).
        self._split = (0, 0.0, 0, 0.0)
        self._checked = (0, 0.0)  # (answers, seconds) of validating an answer's tests: kept back from a cap

    @property
    def limited(self) -> bool:
        return self.end != math.inf

    def start(self) -> None:
        """The clock starts (once the project is copied and imports, and its suite ran)."""
        self.end = time.monotonic() + self.seconds if self.seconds else math.inf

    def left(self) -> float:
        return self.end - time.monotonic()

    def spent(self) -> bool:
        return time.monotonic() >= self.end

    def share(self, fraction: float) -> float:
        """The deadline of a phase that may take ``fraction`` of the time left."""
        return time.monotonic() + self.left() * fraction if self.limited else math.inf

    @staticmethod
    def split(stop: float, parts_left: int, fraction: float = 1.0) -> float:
        """The deadline of the next of ``parts_left`` equal parts (files, say) of the time until ``stop``, of
        which each part may use ``fraction``."""
        if stop == math.inf:
            return math.inf
        now = time.monotonic()
        return now + (stop - now) * fraction / max(parts_left, 1)

    @contextlib.contextmanager
    def held_back(self, fraction: float) -> Iterator[None]:
        """Within the block the run ends ``fraction`` of the time left earlier (kept for a phase after it)."""
        end = self.end
        if self.limited:
            self.end -= self.left() * fraction
        try:
            yield
        finally:
            self.end = end

    def target_deadline(self, start: float, target_seconds: float, targets_left: int) -> tuple[float, bool]:
        """A target's deadline: ``--target-seconds``, and under --budget a fair share of the time left with the
        ``targets_left`` still to go (breadth first: a module's first test of each function gains more than a
        fourth sample for one; time a target leaves flows to the ones after it). A share too short for a useful
        answer is raised to one: then the targets that reach most get real answers and the last ones none,
        instead of every target a stub. Also whether the share cut the target's time."""
        deadline = min(start + target_seconds, self.end)
        if not self.limited or targets_left <= 1:
            return deadline, False
        speed = self.speed()
        useful = USEFUL_TOKENS / speed if speed else 0.0  # (speed unknown: no floor)
        share = start + max((self.end - start) / targets_left, useful)
        return (share, True) if share < deadline else (deadline, False)

    def token_cap(self, deadline: float, limit: int, unread: int = -1) -> int:
        """The completion length that, with its tests run, still ends before ``deadline`` at the speeds so far.

        ``unread``: the prompt tokens the model still has to read (-1: unknown). Where it is known and the
        backend says how long reading took, reading and writing are timed apart: on a CPU a prompt of 1,500
        tokens takes about as long to read as 400 tokens take to write, so a long prompt read late leaves room
        for little. Otherwise the speed counts prompt reading too (whole completion time), so the estimate errs
        short. Before the first completion the speeds are unknown and ``FIRST_READ_SPEED``/``FIRST_WRITE_SPEED``
        (or ``FIRST_SPEED``) stand in, so the run's first answer does not take a full ``limit`` out of the
        others' shares (but gets at least ``USEFUL_TOKENS``). A completion cut at the cap still yields the tests
        it finished (extract keeps the longest prefix that parses)."""
        if deadline == math.inf:
            return limit
        left = deadline - time.monotonic()
        speed = self.speed()
        if speed is None:
            guess = (left - unread / FIRST_READ_SPEED) * FIRST_WRITE_SPEED if unread >= 0 else left * FIRST_SPEED
            return min(limit, max(USEFUL_TOKENS, int(guess)))
        answers, seconds = self._checked  # the answer's tests still have to run before the deadline
        left -= seconds / answers if answers else 0.0
        speeds = self.speeds()
        if unread >= 0 and speeds is not None:
            read, write = speeds
            return min(limit, int((left - unread / read) * write))
        return min(limit, int(left * speed))

    def speed(self) -> float | None:
        """Tokens a second over the run's completions so far (prompt reading included); None before the first."""
        done, spent = self._decoded
        return done / spent if done and spent > 0 else None

    def speeds(self) -> tuple[float, float] | None:
        """(prompt tokens read a second, answer tokens written a second) over the completions whose backend
        timed its reading; None before one did."""
        read, reading, written, writing = self._split
        if read <= 0 or reading <= 0 or written <= 0 or writing <= 0:
            return None
        return read / reading, written / writing

    @property
    def model_seconds(self) -> float:
        return self._decoded[1]

    @property
    def reading_seconds(self) -> float:
        """Of :attr:`model_seconds`, those the backend said went to reading prompts."""
        return self._split[1]

    @property
    def timed(self) -> bool:
        """Whether a completion was timed yet."""
        return bool(self._decoded[0])

    def completed(self, tokens: int, seconds: float, read_tokens: int = 0, read_seconds: float = 0.0) -> None:
        """One completion: ``tokens`` written in ``seconds``, of which ``read_seconds`` went to reading
        ``read_tokens`` prompt tokens (0 where the backend does not say)."""
        done, spent = self._decoded
        self._decoded = (done + tokens, spent + seconds)
        if read_tokens > 0 and 0 < read_seconds < seconds and tokens > 0:
            read, reading, written, writing = self._split
            self._split = (
                read + read_tokens,
                reading + read_seconds,
                written + tokens,
                writing + seconds - read_seconds,
            )

    def checked(self, seconds: float) -> None:
        answers, spent = self._checked
        self._checked = (answers + 1, spent + seconds)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block into ``phases[name]``."""
        began = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.monotonic() - began
