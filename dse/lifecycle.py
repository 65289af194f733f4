"""The trial lifecycle shared by every worker of a study: budget, heartbeats, dead workers, retries.

Several workers (threads of one process with ``--n-jobs``, processes, machines) run this loop
against one Optuna storage. The rules that keep their joint record exact:

* **Budget.** A trial counts against ``--n-trials`` unless another trial re-runs it
  (``retry_of``). A worker counts and asks under the study's budget lock, so workers never
  start more trials than the budget (see ``dse.core.files`` for the multi-machine caveat).
* **Heartbeats.** A running trial carries its worker's identity (host, pid, process start time)
  and a ``heartbeat_at`` time refreshed every ``heartbeat_interval_s``. A RUNNING trial whose
  process is gone (same host) or whose heartbeat is older than three intervals (any host) is a
  dead worker's: it is failed as ``worker_lost`` and its parameters are queued again.
  Our own heartbeat works with every storage (RDB and journal alike).
* **Retries.** A failure whose kind is retryable (timeout, crash, out of memory, device lost,
  worker lost) re-queues the same parameters, at most ``max_retries`` times per configuration.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from dse.core.errors import FailureKind, TrialFailure, UsageError, first_line
from dse.core.files import file_lock, lock_path
from dse.core.record import TrialRecord

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("dse")

#: A heartbeat older than this many intervals marks the trial's worker as dead.
STALE_INTERVALS = 3


@dataclass(frozen=True)
class WorkerIdentity:
    """Which process runs a trial; ``started`` tells a live process from a reused pid."""

    host: str
    pid: int
    started: float

    @classmethod
    def current(cls) -> WorkerIdentity:
        import psutil

        return cls(socket.gethostname(), os.getpid(), psutil.Process().create_time())

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "started": self.started}


def process_is_gone(worker: dict[str, Any]) -> bool:
    """Whether the process described by a trial's ``worker`` attribute (on this host) has ended."""
    import psutil

    try:
        return abs(psutil.Process(int(worker["pid"])).create_time() - float(worker["started"])) > 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except (KeyError, TypeError, ValueError, psutil.Error):
        return False


def death_reason(trial: optuna.trial.FrozenTrial, grace_s: float, now: float) -> str | None:
    """Why a RUNNING trial's worker is considered dead, or None while it looks alive."""
    record = TrialRecord.of(trial)
    worker = record.worker
    if isinstance(worker, dict) and worker.get("host") == socket.gethostname():
        if process_is_gone(worker):
            return f"its worker process {worker.get('pid')} on {worker.get('host')} is gone"
        return None
    last = record.heartbeat_at
    if last is None and trial.datetime_start is not None:
        last = trial.datetime_start.timestamp()
    if last is not None and now - float(last) > grace_s:
        return f"no heartbeat for {now - float(last):.0f} s (grace {grace_s:g} s)"
    return None


class Heartbeat:
    """Refreshes ``heartbeat_at`` of a running trial from a background thread."""

    def __init__(self, trial: optuna.Trial, interval_s: float) -> None:
        self._trial = trial
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"dse-heartbeat-{trial.number}", daemon=True)

    def _beat(self) -> None:
        while True:
            try:
                TrialRecord(heartbeat_at=time.time()).write(self._trial)
            except Exception as exc:  # noqa: BLE001 (a storage hiccup: the next beat may succeed)
                log.debug("heartbeat of trial %d failed: %s", self._trial.number, exc)
            if self._stop.wait(self._interval_s):
                return

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Budget:
    """Decides, for all workers of one study, whether another trial may start."""

    def __init__(
        self,
        study: optuna.Study,
        n_trials: int,
        work_dir: Path,
        storage_id: str,
        heartbeat_interval_s: float,
        max_retries: int,
    ) -> None:
        self._study = study
        self._n_trials = n_trials
        self._lock = lock_path(work_dir, "budget", {"study": study.study_name, "storage": storage_id})
        self._grace_s = STALE_INTERVALS * heartbeat_interval_s
        self._max_retries = max_retries
        self.worker = WorkerIdentity.current()

    def used(self) -> int:
        """Trials that count against the budget: all of them but those re-run by another."""
        trials = self._study.get_trials(deepcopy=False)
        retried = {record.retry_of for record in map(TrialRecord.of, trials) if record.retry_of is not None}
        return len(trials) - len(retried)

    def finished(self) -> int:
        """Trials run to an end that counts (not queued, not running, not re-run by another):
        what a progress bar shows as done. A grid's enqueued trials are not done yet."""

        trials = self._study.get_trials(deepcopy=False)
        retried = {record.retry_of for record in map(TrialRecord.of, trials) if record.retry_of is not None}
        return sum(1 for t in trials if t.state.is_finished() and t.number not in retried)

    def next_trial(self) -> optuna.Trial | None:
        """Reap dead workers' trials, then ask for a trial if the budget allows (None: done)."""
        import optuna

        with file_lock(self._lock):
            self.reap_stale()
            trials = self._study.get_trials(deepcopy=False)
            waiting = any(t.state is optuna.trial.TrialState.WAITING for t in trials)
            if not waiting and self.used() >= self._n_trials:
                return None
            trial = self._study.ask()
            TrialRecord(worker=self.worker.as_dict(), heartbeat_at=time.time()).write(trial)
            return trial

    def reap_stale(self) -> list[int]:
        """Fail the RUNNING trials of dead workers as ``worker_lost`` and queue them again."""
        import optuna

        reaped = []
        now = time.time()
        for frozen in self._study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            reason = death_reason(frozen, self._grace_s, now)
            if reason is None:
                continue
            if self.fail(frozen, FailureKind.LOST, f"trial abandoned: {reason}"):
                reaped.append(frozen.number)
                log.warning(
                    "Trial %d was left RUNNING (%s): marked failed, configuration re-queued", frozen.number, reason
                )
        return reaped

    def fail(self, frozen: optuna.trial.FrozenTrial, kind: FailureKind, message: str) -> bool:
        """Record ``frozen`` as FAIL with its reason and re-queue it if retryable; False if already finished."""
        import optuna

        trial = optuna.trial.Trial(self._study, frozen._trial_id)
        try:
            TrialRecord.failure(kind, message).write(trial)
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            return False  # another worker finished or reaped it first
        self.retry(frozen.number, frozen.params, TrialRecord.of(frozen), kind)
        return True

    def finish(
        self, trial: optuna.Trial, state: optuna.trial.TrialState, values: Any, kind: FailureKind | None
    ) -> None:
        """Tell the outcome of one's own trial; re-queue it when its failure is retryable."""
        import optuna

        with file_lock(self._lock):
            try:
                self._study.tell(trial, values, state=state)
            except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError) as exc:
                # Another worker took this trial for dead (a silent heartbeat) and re-queued it;
                # the result is in the evaluation cache, so the re-run costs nothing.
                log.warning("Trial %d was already closed by another worker (%s)", trial.number, exc)
                return
            if kind is not None:
                self.retry(trial.number, trial.params, TrialRecord.of(trial), kind)

    def retry(self, number: int, params: dict[str, Any], record: TrialRecord, kind: FailureKind) -> None:
        """Queue ``params`` again when ``kind`` is retryable and retries are left."""
        attempt = (record.retry_count or 0) + 1
        if not kind.retryable or attempt > self._max_retries:
            return
        self._study.enqueue_trial(params, user_attrs=TrialRecord(retry_of=number, retry_count=attempt).attrs())
        log.warning("Trial %d re-queued (attempt %d of %d)", number, attempt + 1, self._max_retries + 1)


def run_trial(
    budget: Budget,
    trial: optuna.Trial,
    objective: Callable[[optuna.Trial], Any],
    heartbeat_interval_s: float,
) -> optuna.trial.TrialState:
    """Run ``objective`` on ``trial`` with heartbeats and record the outcome (never raises a
    trial's failure); returns the state it ended in."""
    import optuna

    state, values, kind = optuna.trial.TrialState.FAIL, None, None
    try:
        with Heartbeat(trial, heartbeat_interval_s):
            values = objective(trial)
        state = optuna.trial.TrialState.COMPLETE
    except optuna.TrialPruned:
        state = optuna.trial.TrialState.PRUNED
    except TrialFailure as exc:
        kind = exc.kind
        if TrialRecord.of(trial).error_kind is None:
            TrialRecord.failure(kind, str(exc)).write(trial)
        log.warning(
            "Trial %d failed (%s%s): %s", trial.number, kind.value, ", retryable" if kind.retryable else "", exc
        )
    except (KeyboardInterrupt, UsageError) as exc:
        kind = FailureKind.LOST if isinstance(exc, KeyboardInterrupt) else None
        TrialRecord.failure(kind or FailureKind.RUNTIME, "interrupted" if kind else str(exc)).write(trial)
        budget.finish(trial, optuna.trial.TrialState.FAIL, None, kind)
        raise
    except Exception as exc:  # a bug in a plugin costs this trial, not the study
        kind = FailureKind.RUNTIME
        TrialRecord.failure(kind, f"unexpected {type(exc).__name__}: {first_line(exc)}").write(trial)
        log.warning(
            "Trial %d failed with an unexpected %s: %s",
            trial.number,
            type(exc).__name__,
            first_line(exc),
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
    budget.finish(trial, state, values, kind)
    return state
