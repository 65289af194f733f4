"""Error types, all under :class:`DseError`: usage errors (exit 2) and classified trial failures.

A trial failure is data: it is raised inside the evaluation pipeline and recorded on the trial
with its kind and reason (never raised out of the study).
"""

from __future__ import annotations

import enum


class DseError(Exception):
    """Base of every error dse raises on purpose (a bare ``Exception`` elsewhere is a bug)."""


class UsageError(DseError):
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


class TrialFailure(DseError):
    """A configuration that did not produce a measurement, with its classified ``kind``.

    Raised inside the evaluation pipeline (and by the objective, so Optuna fails the trial); the
    lifecycle records ``kind`` and ``message`` on the trial.
    """

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
