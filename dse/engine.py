"""The composition root of a study: search space, evaluator, Optuna study, recording."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from dse.errors import FailureKind
from dse.evaluator import Evaluator

if TYPE_CHECKING:
    import optuna

    from dse.config import StudyConfig
    from objectives._result import EvaluationResult
    from search_spaces import SearchSpace
    from search_spaces.models._weights import ResolvedWeights

OBJECTIVES = ("accuracy", "latency_ms")
DIRECTIONS = ("maximize", "minimize")


class TrialFailed(Exception):
    """A trial's configuration did not produce a measurement; Optuna records it as FAIL."""


class Objective:
    """Optuna objective: suggest a configuration, evaluate it (cached), record everything."""

    def __init__(self, space: SearchSpace, evaluator: Evaluator) -> None:
        self._space = space
        self._evaluator = evaluator

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        import optuna

        config = self._space.suggest(trial)
        trial.set_user_attr("config", config.as_dict())
        trial.set_user_attr("target", config.target)
        reason = self._space.incompatibility(config)
        if reason is not None:
            _record_failure(trial, FailureKind.INVALID, reason)
            raise optuna.TrialPruned(reason)

        result, cache_hit = self._evaluator.evaluate(config)
        baseline, _ = self._evaluator.evaluate(config.baseline())
        record_result(trial, result, baseline, cache_hit)
        if result.error_kind is FailureKind.INVALID:
            raise optuna.TrialPruned(result.error_message)
        if not result.ok:
            raise TrialFailed(f"{result.error_kind.value if result.error_kind else 'error'}: {result.error_message}")
        assert result.accuracy is not None and result.latency is not None
        return result.accuracy, result.latency.median_ms


def _record_failure(trial: optuna.Trial, kind: FailureKind, message: str) -> None:
    trial.set_user_attr("error_kind", kind.value)
    trial.set_user_attr("error_message", message)
    trial.set_user_attr("retryable", kind.retryable)


def record_result(
    trial: optuna.Trial, result: EvaluationResult, baseline: EvaluationResult, cache_hit: bool
) -> None:
    """Store the full layer-by-layer record of an evaluation on the trial's user attributes."""
    attrs: dict[str, Any] = {
        "cache_hit": cache_hit,
        "eval_size": result.eval_size,
        "artifact_bytes": result.artifact_bytes,
        "timings_s": result.timings_s,
        "versions": result.versions,
        "info": result.info,
    }
    if result.ok:
        assert result.latency is not None and result.accuracy is not None
        attrs["accuracy"] = result.accuracy
        attrs["latency_ms"] = result.latency.median_ms
        attrs["latency"] = asdict(result.latency)
        attrs["emulated"] = result.latency.emulated
        if baseline.ok:
            assert baseline.latency is not None and baseline.accuracy is not None
            attrs["baseline_latency_ms"] = baseline.latency.median_ms
            attrs["baseline_accuracy"] = baseline.accuracy
            attrs["speedup"] = baseline.latency.median_ms / result.latency.median_ms
            attrs["accuracy_drop"] = baseline.accuracy - result.accuracy
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    if result.error_kind is not None:
        _record_failure(trial, result.error_kind, result.error_message or "")


def run_study(
    config: StudyConfig, space: SearchSpace, weights: dict[str, ResolvedWeights], study: optuna.Study
) -> None:
    """Run trials until the study holds ``config.n_trials`` finished trials (or time runs out)."""
    import optuna

    from dse._worker import IsolatedRunner

    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                       optuna.trial.TrialState.FAIL)
    remaining = config.n_trials - len(study.get_trials(deepcopy=False, states=finished_states))
    if remaining <= 0:
        return
    runner = IsolatedRunner(env={"TVM_NUM_THREADS": str(config.threads), "OMP_NUM_THREADS": str(config.threads)})
    objective = Objective(space, Evaluator(config, weights, runner))
    try:
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=config.timeout_s,
            catch=(TrialFailed,),
            callbacks=[optuna.study.MaxTrialsCallback(config.n_trials, states=finished_states)],
            show_progress_bar=os.environ.get("DSE_NO_PROGRESS") is None,
        )
    finally:
        runner.close()
