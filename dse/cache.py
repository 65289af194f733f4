"""The evaluation cache: a configuration measured once is never compiled or measured again.

Keyed by everything that decides the result: every layer's choice, the model's weights hash,
the target and the physical device (for the host: its CPU model and vector features), the
measurement protocol, thread count, evaluation split, tool versions and a digest of dse's own
source. A hit of a tuned configuration is also checked against the tuning database: when the
records it would apply now differ from those it was built with, it is evaluated again. Backed by joblib.Memory, which writes atomically and recomputes an entry it cannot
read back (a corrupt entry costs one re-evaluation, never a wrong result). Only successful and
invalid-combination results are kept: a timeout or a lost device may go better next time.

Workers sharing the work folder evaluate a configuration under its lock (``dse.core.files.file_lock``): a
second worker that drew the same configuration waits and then reads the first one's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dse.core.errors import FailureKind
from dse.core.files import file_lock, lock_path, stable_hash
from dse.core.provenance import tool_versions
from dse.core.record import EvaluationResult
from objectives.request import EvaluationRequest

_CACHEABLE_FAILURES = (FailureKind.INVALID,)


class _NotCached(Exception):
    """Carries a result out of the memoized function without joblib storing it."""

    def __init__(self, result: EvaluationResult) -> None:
        super().__init__(result.error_message)
        self.result = result


def _run_and_keep(
    key: dict[str, Any], request: EvaluationRequest, run: Callable[..., EvaluationResult]
) -> EvaluationResult:
    result = run(request)
    if not result.ok and result.error_kind not in _CACHEABLE_FAILURES:
        raise _NotCached(result)
    return result


def _still_valid(result: EvaluationResult) -> bool:
    """A cached tuned result is stale when the tuning records it would apply have changed."""
    from search_spaces.tuning import records_unchanged

    return records_unchanged(result.info)


class EvaluationCache:
    def __init__(self, location: Path, lock_dir: Path | None = None) -> None:
        from joblib import Memory

        self._lock_dir = lock_dir if lock_dir is not None else location.parent
        self._memory = Memory(location, verbose=0)
        self._cached = self._memory.cache(_run_and_keep, ignore=["request", "run"])
        self._versions = tool_versions()

    def key(self, request: EvaluationRequest) -> dict[str, Any]:
        from search_spaces.targets import TARGETS, device_identity

        target = request.config.target
        return {
            "config": request.config.as_dict(),
            "weights_sha256": request.weights.sha256,
            "device": device_identity(target, request.device, TARGETS.get(target).measured_on_host_cpu),
            "measure": asdict(request.measure),
            "threads": request.threads,
            "data_dir": str(request.data_dir) if request.data_dir else None,
            "eval_limit": request.eval_limit,
            "time_torch_eager": request.time_torch_eager,
            "versions": self._versions,
        }

    def key_hash(self, request: EvaluationRequest) -> str:
        """A short stable name of the cache key (lock files, kept libraries)."""
        return stable_hash(self.key(request), 32)

    def get_or_run(
        self, request: EvaluationRequest, run: Callable[[EvaluationRequest], EvaluationResult]
    ) -> tuple[EvaluationResult, bool]:
        """The cached result of ``request``, or ``run(request)``; the flag says whether it was a hit.

        Runs under the configuration's lock, so concurrent workers evaluate it once. An entry that
        cannot be read back, or holds something other than a result, is recomputed.
        """
        key = self.key(request)
        ran: list[bool] = []

        def run_once(req: EvaluationRequest) -> EvaluationResult:
            ran.append(True)
            return run(req)

        with file_lock(lock_path(self._lock_dir, "config", key)):
            try:
                result = self._cached(key, request, run_once)
                if not isinstance(result, EvaluationResult) or not _still_valid(result):  # damaged or stale
                    result = self._cached.call(key, request, run_once)[0]
            except _NotCached as not_cached:
                return not_cached.result, False
        return result, not ran
