"""The study loop: the Optuna objective, and the workers that run it until the budget is spent.

The objective suggests a configuration, evaluates it (cached, in an isolated process) and
records it as a :class:`~dse.core.record.TrialRecord`; the lifecycle (``dse.lifecycle``) gives
each worker its trials and records how they ended.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from dse.core.errors import FailureKind, TrialFailure
from dse.core.layers import CHOICE_LAYERS
from dse.core.record import TrialRecord
from dse.evaluator import Evaluator

if TYPE_CHECKING:
    import optuna

    from dse.core.config import StudyConfig
    from dse.core.record import EvaluationResult
    from search_spaces import SearchSpace, TrialConfig
    from search_spaces.models import ResolvedWeights


class _OneLineFailures(logging.Filter):
    """Optuna logs a caught TrialFailure with its traceback; the reason alone is the useful part."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], TrialFailure):
            record.exc_info = None
        return "failed with value None" not in record.getMessage()


def quiet_failure_logs() -> None:
    """Make Optuna log a failed trial's reason in one line, without the traceback."""
    import optuna

    for handler in optuna.logging.get_logger("optuna").handlers:  # filters on handlers see child loggers' records
        if not any(isinstance(f, _OneLineFailures) for f in handler.filters):
            handler.addFilter(_OneLineFailures())


class Objective:
    """Optuna objective: suggest a configuration, evaluate it (cached), record everything."""

    def __init__(self, space: SearchSpace, evaluator: Evaluator) -> None:
        self._space = space
        self._evaluator = evaluator

    def _references(self, config: TrialConfig) -> list[EvaluationResult]:
        """The model's reference builds (``search_spaces.reference_builds``), evaluated once
        (cached); the first also times PyTorch eager."""
        from search_spaces import reference_builds

        return [
            self._evaluator.evaluate(reference, time_torch_eager=i == 0)[0]
            for i, reference in enumerate(reference_builds(config))
        ]

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        import optuna

        config = self._space.suggest(trial)
        TrialRecord(config=config.as_dict(), target=config.target).write(trial)
        reason = self._space.incompatibility(config)
        if reason is not None:
            TrialRecord.failure(FailureKind.INVALID, reason).write(trial)
            raise optuna.TrialPruned(reason)

        result, cache_hit = self._evaluator.evaluate(config)
        TrialRecord.of_evaluation(result, self._references(config), cache_hit).write(trial)
        if result.error_kind is FailureKind.INVALID:
            raise optuna.TrialPruned(result.error_message)
        if not result.ok:
            raise TrialFailure(result.error_kind or FailureKind.RUNTIME, result.error_message or "no result")
        assert result.accuracy is not None and result.latency is not None
        return result.accuracy, result.latency.median_ms


def run_study(
    config: StudyConfig, space: SearchSpace, weights: dict[str, ResolvedWeights], study: optuna.Study
) -> None:
    """Run trials until the study holds ``config.n_trials`` counted trials (or time runs out).

    ``config.n_jobs`` worker threads share the budget with each other and with every other
    process on the same study; each thread evaluates in its own worker process.
    """

    from dse.lifecycle import Budget
    from dse.study import redact

    quiet_failure_logs()
    budget = Budget(
        study, config.n_trials, config.work_dir, redact(config.storage), config.heartbeat_interval_s, config.max_retries
    )
    deadline = None if config.timeout_s is None else time.monotonic() + config.timeout_s
    progress = _progress(config.n_trials, budget.finished())
    try:
        if config.n_jobs == 1:
            _worker_loop(config, space, weights, budget, deadline, progress)
        else:
            _run_threads(config, space, weights, budget, deadline, progress)
        if config.remeasure_front:
            from dse.remeasure import remeasure_front

            remeasure_front(config, study, weights)
    finally:
        progress.close()


def _progress(total: int, done: int) -> Any:
    """A bar of trials run on a terminal; elsewhere nothing (Optuna logs a line per trial)."""
    from dse.core.progress import progress

    return progress(total, "trials", "trial", initial=min(done, total), end_line=False, leave=True)


def trial_line(trial: optuna.Trial, state: optuna.trial.TrialState) -> str:
    """One line for a trial that ended: its configuration and objectives, or why it was pruned."""
    record = TrialRecord.of(trial)
    config = record.config or {}
    layers = [str(config.get("model", "?"))] + [
        str(config[layer]["name"]) for layer in CHOICE_LAYERS if isinstance(config.get(layer), dict)
    ]
    if state.name == "COMPLETE" and record.accuracy is not None and record.latency_ms is not None:
        outcome = f"accuracy {record.accuracy:.4f}, {record.latency_ms:.4g} ms"
        if record.cache_hit:
            outcome += " (cached)"
        elif (record.info or {}).get("reused_build_of"):
            outcome += " (same build as one measured: reused)"
    else:
        outcome = f"{state.name.lower()}: {record.error_message or 'no result'}"
    return f"trial {trial.number} ({' / '.join(layers)}): {outcome}"


def _say(progress: Any, line: str) -> None:
    """A line beside the bar (written above it on a terminal), or on stderr alone."""
    writer = getattr(progress, "write", None)
    if writer is not None:
        writer(line)
    else:
        print(line, file=sys.stderr, flush=True)


def _worker_loop(
    config: StudyConfig,
    space: SearchSpace,
    weights: dict[str, ResolvedWeights],
    budget: Any,
    deadline: float | None,
    progress: Any,
    stop: threading.Event | None = None,
) -> None:
    """One worker: ask (within the budget), evaluate in its own process, record; until done."""
    import optuna

    from dse.lifecycle import run_trial
    from dse.worker import IsolatedRunner

    runner = IsolatedRunner.with_threads(config.threads)
    objective = Objective(space, Evaluator(config, weights, runner))
    try:
        while not (stop is not None and stop.is_set()) and (deadline is None or time.monotonic() < deadline):
            trial = budget.next_trial()
            if trial is None:
                return
            state = run_trial(budget, trial, objective, config.heartbeat_interval_s)
            progress.update()
            if state is not optuna.trial.TrialState.FAIL:  # a failure has logged its own line
                _say(progress, trial_line(trial, state))
    finally:
        runner.close()


def _run_threads(
    config: StudyConfig,
    space: SearchSpace,
    weights: dict[str, ResolvedWeights],
    budget: Any,
    deadline: float | None,
    progress: Any,
) -> None:
    """``config.n_jobs`` worker loops in daemon threads; Ctrl-C stops them after their trial."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            _worker_loop(config, space, weights, budget, deadline, progress, stop)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the main thread)
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=work, name=f"dse-worker-{i}", daemon=True) for i in range(config.n_jobs)]
    for thread in threads:
        thread.start()
    try:
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()  # running trials of this process are re-queued by the next run (their pid is gone)
        raise
    if errors:
        raise errors[0]
