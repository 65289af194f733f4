"""Parameter importance per objective (Optuna's evaluators) on COMPLETE, real trials.

Importance from a handful of trials is noise fitted by a random forest, so it is computed only
from ``MIN_CONFIGURATIONS`` distinct configurations (a cache hit repeats a configuration and is
counted once), and an objective whose values cannot be told apart (accuracies that all lie in
one another's 95% interval) has nothing to attribute.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dse.core.record import DIRECTIONS, OBJECTIVES

if TYPE_CHECKING:
    import optuna

EVALUATORS = ("fanova", "ped-anova", "mdi")
MIN_CONFIGURATIONS = 20


def _evaluator(name: str, seed: int):
    from optuna.importance import (
        FanovaImportanceEvaluator,
        MeanDecreaseImpurityImportanceEvaluator,
        PedAnovaImportanceEvaluator,
    )

    if name == "fanova":
        return FanovaImportanceEvaluator(seed=seed)
    if name == "mdi":
        return MeanDecreaseImpurityImportanceEvaluator(seed=seed)
    return PedAnovaImportanceEvaluator()


def _all_tie(trials: Sequence[optuna.trial.FrozenTrial]) -> bool:
    """Whether every accuracy lies inside the best one's 95% interval (no difference to explain)."""
    from dse.core.record import TrialRecord
    from dse.core.stats import accuracy_interval

    best = max(trials, key=lambda t: t.values[0])
    size = TrialRecord.of(best).eval_size
    if not size:
        return False
    low, _ = accuracy_interval(best.values[0], int(size))
    return all(t.values[0] >= low for t in trials)


def importances(
    trials: Sequence[optuna.trial.FrozenTrial], evaluator: str = "fanova", seed: int = 0
) -> dict[str, dict[str, float]] | str:
    """``{objective: {param: importance}}`` over the parameters every trial has (the layers; an
    empty dict where the objective is constant), or a sentence saying why there is none (too few trials, a single value everywhere)."""
    import optuna

    complete, seen = [], set()
    for t in trials:
        key = tuple(sorted((k, str(v)) for k, v in t.params.items()))
        if t.state == optuna.trial.TrialState.COMPLETE and t.values is not None and key not in seen:
            seen.add(key)
            complete.append(t)
    if len(complete) < MIN_CONFIGURATIONS:
        return (
            f"needs at least {MIN_CONFIGURATIONS} distinct measured configurations, got {len(complete)}: "
            "importance from fewer is noise"
        )
    study = optuna.create_study(directions=list(DIRECTIONS))  # type: ignore[arg-type]
    study.add_trials(complete)
    out: dict[str, dict[str, float]] = {}
    for index, objective in enumerate(OBJECTIVES):
        if len({t.values[index] for t in complete}) == 1 or (objective == "accuracy" and _all_tie(complete)):
            out[objective] = {}  # nothing to attribute (fANOVA would divide by zero variance)
            continue

        def value(trial: optuna.trial.FrozenTrial, i: int = index) -> float:
            return float(trial.values[i])

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = optuna.importance.get_param_importances(
                    study,
                    evaluator=_evaluator(evaluator, seed),
                    target=value,
                )
        except (ValueError, RuntimeError) as exc:
            return f"{evaluator} importance failed: {str(exc).splitlines()[0]}"
        out[objective] = {name: float(v) for name, v in values.items()}
    return out
