"""Run an evaluation in a separate, reused worker process with a timeout.

A segmentation fault or a hang inside TVM costs one trial, not the study: the worker is
killed and replaced, and the trial is recorded as failed with a classified reason.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

from dse.errors import FailureKind, TrialFailure

R = TypeVar("R")

#: A worker idle this long exits; the next trial starts a new one (imports cost a few seconds).
_IDLE_EXIT_S = 600


class IsolatedRunner:
    """Calls functions in one loky worker process that keeps torch and TVM imported."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env

    def _executor(self):  # noqa: ANN202 (loky's executor type is private)
        from joblib.externals.loky import get_reusable_executor

        return get_reusable_executor(max_workers=1, timeout=_IDLE_EXIT_S, env=self._env)

    def call(self, fn: Callable[..., R], *args: object, timeout_s: float) -> R:
        """``fn(*args)`` in the worker; raises TrialFailure on timeout or a crashed worker."""
        from joblib.externals.loky.process_executor import BrokenProcessPool, TerminatedWorkerError

        executor = self._executor()
        future = executor.submit(fn, *args)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            executor.shutdown(wait=False, kill_workers=True)
            raise TrialFailure(FailureKind.TIMEOUT, f"evaluation exceeded --trial-timeout {timeout_s:g} s") from None
        except (TerminatedWorkerError, BrokenProcessPool) as exc:
            executor.shutdown(wait=False, kill_workers=True)
            raise TrialFailure(FailureKind.CRASH, f"worker process died: {str(exc).splitlines()[0]}") from None

    def close(self) -> None:
        self._executor().shutdown(wait=True)
