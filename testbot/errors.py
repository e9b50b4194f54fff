"""The one fatal error type, and the exit codes the CLI returns (documented in the README)."""

from __future__ import annotations

EXIT_OK = 0  # ran, nothing written
EXIT_WRITTEN = 1  # tests were written (or would be, with --dry-run): pre-commit's convention
EXIT_BAD_INPUT = 2  # bad arguments, paths, source files or configuration
EXIT_ENVIRONMENT = 3  # model, pytest/coverage or the target's dependencies are missing
EXIT_INTERNAL = 4  # a bug in testbot (TESTBOT_DEBUG=1 shows the traceback)
EXIT_INTERRUPTED = 130


class FatalError(Exception):
    """An error that stops the run; its message tells the user what to do next."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


class EnvironmentProblem(FatalError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_ENVIRONMENT)


class PromptTooLong(EnvironmentProblem):
    """A prompt longer than the model's context: the pipeline skips that target (a function whose code alone
    is longer than the context) and goes on with the others."""
