"""Parameter importance per objective (Optuna's evaluators) on COMPLETE, real trials."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dse.core.record import DIRECTIONS, OBJECTIVES

if TYPE_CHECKING:
    import optuna

EVALUATORS = ("fanova", "ped-anova", "mdi")
MIN_TRIALS = 4


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


def importances(
    trials: Sequence[optuna.trial.FrozenTrial], evaluator: str = "fanova", seed: int = 0
) -> dict[str, dict[str, float]] | str:
    """``{objective: {param: importance}}`` over the parameters every trial has (the layers; an
    empty dict where the objective is constant), or a sentence saying why there is none (too few trials, a single value everywhere)."""
    import optuna

    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.values is not None]
    if len(complete) < MIN_TRIALS:
        return f"needs at least {MIN_TRIALS} COMPLETE real trials, got {len(complete)}"
    study = optuna.create_study(directions=list(DIRECTIONS))  # type: ignore[arg-type]
    study.add_trials(complete)
    out: dict[str, dict[str, float]] = {}
    for index, objective in enumerate(OBJECTIVES):
        if len({t.values[index] for t in complete}) == 1:
            out[objective] = {}  # constant: nothing to attribute (fANOVA would divide by zero variance)
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
