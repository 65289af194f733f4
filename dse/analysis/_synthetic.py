"""Synthetic studies with known answers, carrying the same attributes as real trials.

Used by the tests (and handy for trying the reports): ``latency_ms(choices)`` and
``accuracy(choices)`` plant the effects; multiplicative noise of a given CV mimics measurement.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

Choices = Mapping[str, str]


def add_trials(
    study: optuna.Study,
    space: Mapping[str, Sequence[str]],
    latency_ms: Callable[[Choices], float],
    accuracy: Callable[[Choices], float],
    *,
    target: str = "x86",
    cv: float = 0.01,
    seed: int = 0,
    emulated: bool = False,
    keep: Callable[[Choices], bool] = lambda c: True,
) -> None:
    """Add one COMPLETE trial per combination of ``space`` (layer -> choice names) that ``keep`` accepts."""
    import numpy as np
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution

    rng = np.random.default_rng(seed)
    layers = list(space)
    distributions: dict[str, BaseDistribution] = {layer: CategoricalDistribution(list(space[layer])) for layer in layers}
    for combo in itertools.product(*(space[layer] for layer in layers)):
        choices = dict(zip(layers, combo))
        if not keep(choices):
            continue
        samples = latency_ms(choices) * (1 + cv * rng.standard_normal(10))
        lat = float(np.median(samples))
        acc = float(accuracy(choices))
        config = {"dataset": "synthetic", "model": choices.get("model", "net"),
                  **{layer: {"name": choices.get(layer, "none")} for layer in ("pruning", "precision", "algorithm",
                                                                              "tuning")},
                  "target": target}
        attrs = {
            "config": config, "target": target, "accuracy": acc, "latency_ms": lat, "emulated": emulated,
            "latency": {"median_ms": lat, "cv": float(np.std(samples) / np.mean(samples)), "emulated": emulated,
                        "samples_ms": [float(s) for s in samples]},
            "cache_hit": False, "timings_s": {"compile": 1.0, "measure": 0.5},
        }
        study.add_trial(optuna.trial.create_trial(
            params=dict(choices), distributions=distributions, values=[acc, lat], user_attrs=attrs,
        ))


def new_study(name: str = "synthetic") -> optuna.Study:
    """An in-memory study with dse's directions and metric names."""
    import optuna

    from dse.engine import DIRECTIONS, OBJECTIVES

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, directions=list(DIRECTIONS))  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(OBJECTIVES))
    return study
