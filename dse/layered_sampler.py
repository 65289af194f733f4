"""``--sampler layered``: a sampler built for dse's space, where Optuna's general ones waste trials.

The across-stack space is small, discrete, conditional and layered, and Optuna's samplers see
none of that: they propose a configuration already measured again (each repeat costs a trial),
parameters of choices a trial does not take, and combinations the space rules out (Winograd
without a 3x3 convolution), and they model accuracy as if the convolution algorithm could change
it. This sampler works on the list of the space's distinct, compatible configurations instead:

- it never proposes one twice (finished, failed or still running in another worker);
- it starts with a few configurations that together cover every layer's every choice once;
- then it fits two Bayesian linear models on the layers' one-hot choices and their pairwise
  interactions: **accuracy from the layers above the code (model, pruning, precision, runtime)
  only**, since the algorithm and tuning layers compute the same function, and log latency
  from every layer; an interaction term per pair of layers is what lets "the fastest algorithm
  changes with quantization" be learnt;
- each next trial is the unmeasured configuration whose optimistic prediction (mean plus
  ``beta`` posterior standard deviations toward better) adds the most hypervolume to the
  front measured so far; a configuration that can add nothing even optimistically is left for
  last (then chosen at random).

With a front of a few points out of hundreds of configurations, most of the space is dominated
for a reason the layers explain (a slower algorithm, a less accurate model); the linear models
learn those reasons from a few dozen trials, which is why it reaches the front within a tenth of
the space where TPE and NSGA-II still sample broadly (``bench/search_efficiency.py`` measures it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from dse.core.layers import LAYERS

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

    from search_spaces import SearchSpace

#: Layers that decide what the model computes, hence its accuracy. Algorithm and tuning only
#: decide how it is computed.
ACCURACY_LAYERS = frozenset({"model", "pruning", "precision", "runtime"})

#: Where the sampler keeps the configuration it chose for a trial (storage-backed, so workers
#: sharing a study see each other's running choices).
_PLAN_ATTR = "dse:layered_plan"


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _layer_of(param: str) -> str:
    return param.split(".", 1)[0]


def _features(params: dict[str, Any], layers: frozenset[str] | None) -> list[tuple[str, float]]:
    """One-hot features of a configuration: each layer's choice, its choice with parameters, and
    each pair of layers' labels (weighted lower: an interaction is believed smaller than a main
    effect until the data say otherwise)."""
    labels: dict[str, str] = {}
    for layer in LAYERS:
        if layer not in params or (layers is not None and layer not in layers):
            continue
        own = {k: v for k, v in params.items() if _layer_of(k) == layer and k != layer}
        labels[layer] = f"{params[layer]}{json.dumps(own, sort_keys=True, default=str) if own else ''}"
    features = [(f"{layer}={params[layer]}", 1.0) for layer in labels]
    features += [(f"{layer}:{label}", 1.0) for layer, label in labels.items() if label != params[layer]]
    ordered = list(labels.items())
    features += [(f"{a}:{la}|{b}:{lb}", 0.5) for i, (a, la) in enumerate(ordered) for b, lb in ordered[i + 1 :]]
    return features


def _matrix(rows: Sequence[list[tuple[str, float]]]) -> np.ndarray:
    """The one-hot design matrix of ``rows`` (columns in order of first appearance)."""
    index: dict[str, int] = {}
    for row in rows:
        for name, _ in row:
            index.setdefault(name, len(index))
    x = np.zeros((len(rows), len(index)))
    for i, row in enumerate(rows):
        for name, weight in row:
            x[i, index[name]] = weight
    return x


def _posterior(x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bayesian linear regression (unit prior on each weight, in units of the targets' spread)
    fitted on ``x[rows]``, ``y``: posterior mean and standard deviation at every row of ``x``.
    A feature no trial has yet keeps its prior, so a configuration that brings untried
    combinations is uncertain, hence optimistic: that is the exploration. Computed in its dual
    form (a linear-kernel Gaussian process), whose size is the trials', not the features'."""
    mean, scale = float(y.mean()), float(y.std()) or 1.0
    z = (y - mean) / scale
    noise = 0.1  # relative noise variance: a configuration's measurement repeats to a few percent
    seen = x[rows]
    gram = seen @ seen.T + noise * np.eye(len(rows))
    cross = x @ seen.T  # every configuration against the trials
    solved = np.linalg.solve(gram, cross.T).T
    variance = np.einsum("ij,ij->i", x, x) - np.einsum("ij,ij->i", solved, cross)
    return mean + scale * (solved @ z), scale * np.sqrt(np.maximum(variance, 0.0))


def front_hypervolume(losses: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of 2-D loss points (both minimized) below ``reference``: the sum of the
    horizontal slabs of the staircase, points taken by increasing first loss."""
    volume, ceiling = 0.0, float(reference[1])
    for first, second in losses[np.argsort(losses[:, 0], kind="stable")]:
        if first < reference[0] and second < ceiling:
            volume += (float(reference[0]) - first) * (ceiling - second)
            ceiling = float(second)
    return volume


def _nondominated(losses: np.ndarray) -> np.ndarray:
    """The rows of ``losses`` no other row is at least as good in both and better in one."""
    keep = [
        i for i, row in enumerate(losses) if not np.any(np.all(losses <= row, axis=1) & np.any(losses < row, axis=1))
    ]
    return losses[keep]


class LayeredSampler(optuna.samplers.BaseSampler):
    """An Optuna sampler over the distinct configurations of a dse space (see the module docstring).

    It chooses a whole configuration before each trial (``before_trial``) and answers each
    ``suggest`` from it; a parameter outside the plan (a space changed under a resumed study)
    is drawn at random. The study's values are dse's objectives: accuracy, then latency in ms.
    """

    def __init__(self, space: SearchSpace, seed: int | None = None, beta: float = 1.0) -> None:
        from search_spaces import compatible_configurations

        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._rng = np.random.default_rng(seed)
        self._beta = beta
        candidates = compatible_configurations(space)
        self._candidates = candidates
        self._keys = [_key(p) for p in candidates]
        self._latency_rows = [_features(p, None) for p in candidates]
        self._accuracy_x = _matrix([_features(p, ACCURACY_LAYERS) for p in candidates])
        self._latency_x = _matrix(self._latency_rows)

    # Optuna's sampler interface -------------------------------------------------------------

    def reseed_rng(self) -> None:
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if _PLAN_ATTR in trial.system_attrs or "fixed_params" in trial.system_attrs:
            return  # an enqueued trial (a retry, a --verify pair) keeps what it was given
        plan = self._next(study)
        if plan is not None:  # kept in storage, as Optuna's GridSampler keeps its grid id
            study._storage.set_trial_system_attr(trial._trial_id, _PLAN_ATTR, plan)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        plan = trial.system_attrs.get(_PLAN_ATTR) or {}
        value = plan.get(param_name)
        choices = getattr(param_distribution, "choices", None)
        if choices is not None and value in choices:
            return value
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: optuna.trial.TrialState,
        values: Sequence[float] | None,
    ) -> None:
        return None

    # Choosing --------------------------------------------------------------------------------

    def _next(self, study: optuna.Study) -> dict[str, Any] | None:
        """The configuration for the next trial; None once every one has been tried."""
        seen: set[str] = set()
        points: list[tuple[int, float, float]] = []  # (candidate index, accuracy, latency)
        position = {key: i for i, key in enumerate(self._keys)}
        for t in study.get_trials(deepcopy=False):
            # A trial not finished yet is known by what it was planned or queued to run.
            planned = t.system_attrs.get(_PLAN_ATTR) or t.system_attrs.get("fixed_params")
            key = _key(t.params if t.state.is_finished() else planned or t.params)
            seen.add(key)
            if t.state is optuna.trial.TrialState.COMPLETE and t.values and key in position:
                points.append((position[key], float(t.values[0]), float(t.values[1])))
        open_ = [i for i, key in enumerate(self._keys) if key not in seen]
        if not open_:
            return None
        covering = self._covering(seen, open_)
        if covering is not None:
            return self._candidates[covering]
        if not points:
            return self._candidates[open_[int(self._rng.integers(len(open_)))]]
        rows = np.array([i for i, _, _ in points])
        acc_mean, acc_std = _posterior(self._accuracy_x, np.array([a for _, a, _ in points]), rows)
        lat_mean, lat_std = _posterior(self._latency_x, np.log10([ms for _, _, ms in points]), rows)
        optimistic = np.column_stack([-(acc_mean + self._beta * acc_std), lat_mean - self._beta * lat_std])[open_]
        measured = np.array([(-a, np.log10(ms)) for _, a, ms in points])
        reference = measured.max(axis=0) + np.maximum(np.ptp(measured, axis=0), 1e-3) * 0.1
        front = _nondominated(measured)  # only the front adds hypervolume: keeps each gain cheap
        base = front_hypervolume(front, reference)
        gains = np.array([front_hypervolume(np.vstack([front, point]), reference) - base for point in optimistic])
        best = np.flatnonzero(gains >= gains.max() - 1e-12) if gains.max() > 0 else np.arange(len(open_))
        return self._candidates[open_[int(self._rng.choice(best))]]

    def _covering(self, seen: set[str], open_: list[int]) -> int | None:
        """While some layer's choice has not been tried, the open configuration that brings the
        most untried choices (ties at random); None once every choice has been tried."""
        tried = [i for i, key in enumerate(self._keys) if key in seen]
        covered = {name for i in tried for name, _ in self._latency_rows[i] if "|" not in name}
        unseen = [sum(1 for name, _ in self._latency_rows[i] if "|" not in name and name not in covered) for i in open_]
        most = max(unseen)
        if most == 0:
            return None
        tied = [i for i, count in zip(open_, unseen, strict=True) if count == most]
        return int(self._rng.choice(tied))
