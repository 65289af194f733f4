"""Error types: usage errors (exit 2) and classified trial failures (recorded, never raised out)."""

from __future__ import annotations

import enum


class UsageError(Exception):
    """Bad user input. The CLI prints the message as one line on stderr and exits with 2."""


class FailureKind(str, enum.Enum):
    """Why a trial did not produce a measurement.

    ``INVALID`` combinations are pruned and never retried; the others fail the trial.
    Retryable kinds may succeed when tried again (device back, machine less loaded).
    """

    INVALID = "invalid_combination"
    COMPILE = "compile_error"
    RUNTIME = "runtime_error"
    TIMEOUT = "timeout"
    DEVICE = "device_unavailable"
    CRASH = "worker_crashed"
    OOM = "out_of_memory"
    #: The process running the trial died or was interrupted (found by its heartbeat or its pid).
    LOST = "worker_lost"

    @property
    def retryable(self) -> bool:
        return self in (FailureKind.TIMEOUT, FailureKind.DEVICE, FailureKind.CRASH, FailureKind.OOM, FailureKind.LOST)


class TrialFailure(Exception):
    """Raised inside the evaluation pipeline; the engine turns it into a recorded failed trial."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class InvalidCombination(TrialFailure):
    """The chosen layer options cannot work together (the trial is pruned with the reason)."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureKind.INVALID, message)


class DeviceUnavailable(TrialFailure):
    """The measurement device could not be reached or went away."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureKind.DEVICE, message)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (TVM errors carry long tracebacks)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
