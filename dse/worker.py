"""Run an evaluation in a separate, reused worker process with a timeout.

A segmentation fault, an out-of-memory kill or a hang inside TVM costs one trial, not the
study: the worker is killed and replaced, and the trial is recorded as failed with a classified
reason. Each :class:`IsolatedRunner` owns its own process, so ``--n-jobs`` threads never kill
each other's work when one of them times out.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from dse.core.errors import FailureKind, TrialFailure, UsageError, first_line

R = TypeVar("R")

#: A worker idle this long exits; the next trial starts a new one (imports cost a few seconds).
_IDLE_EXIT_S = 600


#: Kernel counters of out-of-memory kills: the host's (Linux >= 4.13) and this cgroup's (v2).
_OOM_COUNTERS = (("/proc/vmstat", "oom_kill"), ("/sys/fs/cgroup/memory.events", "oom_kill"))


def oom_kills() -> int | None:
    """How many processes the kernel's OOM killer has killed so far (None: no counter readable)."""
    counts = []
    for path, name in _OOM_COUNTERS:
        try:
            with open(path, encoding="ascii") as file:
                for line in file:
                    key, _, value = line.partition(" ")
                    if key == name:
                        counts.append(int(value))
        except (OSError, ValueError):
            continue
    return max(counts) if counts else None


def classify_death(
    message: str, oom_kills_before: int | None = None, oom_kills_after: int | None = None
) -> TrialFailure:
    """A dead worker's failure from loky's message (which lists the exit codes).

    A SIGKILL is an out-of-memory kill only when the kernel's OOM counter moved while the
    worker ran; otherwise something else killed it (``kill -9``, a job scheduler), a crash.
    Anything else (SIGSEGV, SIGABRT, an exit code) is a crash too.
    """
    codes = message[message.find("exit codes") :] if "exit codes" in message else ""
    if "SIGKILL" in codes or "(-9)" in codes:
        if oom_kills_before is not None and oom_kills_after is not None and oom_kills_after > oom_kills_before:
            return TrialFailure(FailureKind.OOM, "worker process was killed by the kernel's out-of-memory killer")
        evidence = "no OOM kill counted" if oom_kills_after is not None else "no OOM counter readable"
        return TrialFailure(FailureKind.CRASH, f"worker process was killed (SIGKILL, {evidence}: killed from outside)")
    return TrialFailure(FailureKind.CRASH, f"worker process died ({codes or message.splitlines()[0]})")


class IsolatedRunner:
    """Calls functions in one private loky worker process that keeps torch and TVM imported."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._pool: Any = None
        self._lock = threading.Lock()

    @classmethod
    def with_threads(cls, threads: int) -> IsolatedRunner:
        """A runner whose process runs TVM and PyTorch with ``threads`` threads (set before they start)."""
        return cls(env={"TVM_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)})

    def _executor(self) -> Any:
        from joblib.externals.loky import ProcessPoolExecutor

        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=1, timeout=_IDLE_EXIT_S, env=self._env)
            return self._pool

    def _discard(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, kill_workers=True)

    def call(self, fn: Callable[..., R], *args: object, timeout_s: float) -> R:
        """``fn(*args)`` in the worker.

        Raises:
            TrialFailure: on timeout (TIMEOUT), a killed or crashed worker (OOM, CRASH), a
                ``MemoryError`` (OOM) or any unexpected exception of ``fn`` (RUNTIME).
            UsageError: raised by ``fn`` itself (bad input found late): the CLI reports it.
        """
        from joblib.externals.loky.process_executor import BrokenProcessPool, TerminatedWorkerError

        kills_before = oom_kills()
        future = self._executor().submit(fn, *args)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            self._discard()
            raise TrialFailure(FailureKind.TIMEOUT, f"evaluation exceeded --trial-timeout {timeout_s:g} s") from None
        except (TerminatedWorkerError, BrokenProcessPool) as exc:
            self._discard()
            raise classify_death(str(exc), kills_before, oom_kills()) from None
        except MemoryError:
            self._discard()
            raise TrialFailure(FailureKind.OOM, "evaluation ran out of memory (MemoryError)") from None
        except (TrialFailure, UsageError):
            raise
        except Exception as exc:  # noqa: BLE001 (a bug in a plugin: one failed trial, with the reason)
            raise TrialFailure(FailureKind.RUNTIME, f"unexpected {type(exc).__name__}: {first_line(exc)}") from None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
