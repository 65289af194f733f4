"""The discretized search space: its distinct configurations, and trials confined to it.

Optuna's GridSampler takes the cartesian product of *every* parameter, including those of
choices a trial did not take: with ``pruning=none`` each value of
``pruning.magnitude.sparsity`` is another grid point for the same configuration. Exhaustive
search here enumerates the distinct configurations instead (layer by layer, each choice's own
grid through a FixedTrial, so a choice that asks for a parameter only sometimes is honoured),
and the guided samplers see the same discrete space through :class:`DiscreteTrial`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from search_spaces import count_configurations, distinct_configurations  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    import optuna

    from search_spaces import ParamValue


class DiscreteTrial:
    """An Optuna trial whose suggestions are drawn from the space's grid values only.

    Everything else is the wrapped trial's (user attributes, number, pruning...).
    """

    def __init__(self, trial: optuna.Trial, grid: dict[str, list[ParamValue]]) -> None:
        self._trial = trial
        self._grid = grid

    def suggest_float(self, name: str, low: float, high: float, **kwargs: Any) -> float:
        if name in self._grid:
            return float(self._trial.suggest_categorical(name, self._grid[name]))  # type: ignore[arg-type]
        return self._trial.suggest_float(name, low, high, **kwargs)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        if name in self._grid:  # a choice may offer more values than its grid (e.g. extra fine-tune epochs)
            choices = [c for c in choices if c in self._grid[name]] or list(self._grid[name])
        return self._trial.suggest_categorical(name, choices)

    def suggest_int(self, name: str, low: int, high: int, **kwargs: Any) -> int:
        if name in self._grid:
            return int(self._trial.suggest_categorical(name, self._grid[name]))  # type: ignore[arg-type]
        return self._trial.suggest_int(name, low, high, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._trial, attr)
