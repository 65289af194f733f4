"""Synthetic studies with known answers, carrying the same attributes as real trials.

Used by the tests (and handy for trying the reports): ``latency_ms(choices)`` and
``accuracy(choices)`` plant the effects; multiplicative noise of a given CV mimics measurement.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from dse.core.layers import CHOICE_LAYERS, LEGACY_CHOICE
from dse.core.record import DIRECTIONS, OBJECTIVES, TrialRecord
from dse.core.stats import accuracy_interval

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
    choice_params: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]] | None = None,
    eval_size: int | None = None,
    drift: float = 0.0,
) -> None:
    """Add one COMPLETE trial per combination of ``space`` (layer -> choice names) that ``keep`` accepts.

    ``choice_params`` (layer -> choice -> key -> values) gives choices parameters of their own,
    named ``<layer>.<choice>.<key>`` as real ones; the functions see them as ``choices[that name]``.
    ``eval_size`` records the accuracies as measured on that many images (with their interval).
    ``drift``: a per-trial multiplicative latency error (std, e.g. 0.10), invisible in the
    trial's own CV, as a machine whose speed wanders between trials.
    """
    import numpy as np
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution

    rng = np.random.default_rng(seed)
    layers = list(space)
    extra = choice_params or {}
    distributions: dict[str, BaseDistribution] = {
        layer: CategoricalDistribution(list(space[layer])) for layer in layers
    }
    options: list[list[dict[str, str]]] = []
    for layer in layers:
        variants = []
        for name in space[layer]:
            own = {f"{layer}.{name}.{key}": list(values) for key, values in extra.get(layer, {}).get(name, {}).items()}
            distributions.update({key: CategoricalDistribution(values) for key, values in own.items()})
            variants += [
                {layer: name, **dict(zip(own, combo, strict=True))} for combo in itertools.product(*own.values())
            ]
        options.append(variants)
    for parts in itertools.product(*options):
        choices = {k: v for part in parts for k, v in part.items()}
        if not keep(choices):
            continue
        level = latency_ms(choices) * max(0.05, 1 + drift * rng.standard_normal()) if drift else latency_ms(choices)
        samples = level * (1 + cv * rng.standard_normal(10))
        lat = float(np.median(samples))
        acc = float(accuracy(choices))
        config = {
            "dataset": "synthetic",
            "model": choices.get("model", "net"),
            **{
                layer: {"name": choices.get(layer, LEGACY_CHOICE.get(layer, "none")), **_own(choices, layer)}
                for layer in CHOICE_LAYERS
            },
            "target": target,
        }
        record = TrialRecord(
            config=config,
            target=target,
            accuracy=acc,
            eval_size=eval_size,
            accuracy_ci=list(accuracy_interval(acc, eval_size)) if eval_size else None,
            latency_ms=lat,
            emulated=emulated,
            latency={
                "median_ms": lat,
                "cv": float(np.std(samples) / np.mean(samples)),
                "emulated": emulated,
                "samples_ms": [float(s) for s in samples],
            },
            cache_hit=False,
            timings_s={"compile": 1.0, "measure": 0.5},
        )
        study.add_trial(
            optuna.trial.create_trial(
                params=dict(choices),
                distributions={k: distributions[k] for k in choices},
                values=[acc, lat],
                user_attrs=record.attrs(),
            )
        )


def _own(choices: Choices, layer: str) -> dict[str, str]:
    prefix = f"{layer}.{choices.get(layer, 'none')}."
    return {k[len(prefix) :]: v for k, v in choices.items() if k.startswith(prefix)}


def new_study(name: str = "synthetic") -> optuna.Study:
    """An in-memory study with dse's directions and metric names."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, directions=list(DIRECTIONS))  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(OBJECTIVES))
    return study
