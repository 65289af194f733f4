"""Shared parameters of the sparse algorithms: format (CSR/BSR), BSR block rows, threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from search_spaces._base import Params, ParamValue
from search_spaces.algorithms._base import ConvAlgorithm
from search_spaces.algorithms._sparse import BLOCK_ROWS, FORMATS, THRESHOLDS

if TYPE_CHECKING:
    import optuna


class SparseAlgorithm(ConvAlgorithm):
    """A sparse kernel for layers whose weight sparsity reaches ``threshold``; the rest use
    ``dense`` (the dense counterpart), recorded per layer."""

    dense = "direct"
    formats: tuple[str, ...] = FORMATS

    def suggest(self, trial: optuna.Trial) -> dict[str, ParamValue]:
        params: dict[str, ParamValue] = {
            "threshold": trial.suggest_categorical(self.param_name("threshold"), list(THRESHOLDS)),
        }
        if len(self.formats) > 1:
            params["format"] = trial.suggest_categorical(self.param_name("format"), list(self.formats))
        if params.get("format") == "bsr":
            params["block"] = trial.suggest_categorical(self.param_name("block"), list(BLOCK_ROWS))
        return params

    def grid(self) -> dict[str, Sequence[ParamValue]]:
        grid: dict[str, Sequence[ParamValue]] = {self.param_name("threshold"): list(THRESHOLDS)}
        if len(self.formats) > 1:
            grid[self.param_name("format")] = list(self.formats)
            grid[self.param_name("block")] = list(BLOCK_ROWS)
        return grid

    def block_rows(self, params: Params) -> int:
        return int(params.get("block", 8)) if params.get("format", "csr") == "bsr" else 1

    def threshold(self, params: Params) -> float:
        return float(params.get("threshold", 0.5))

    def fallback(self, params: Params) -> str | None:
        # Layers below the threshold (all of them in an unpruned or channel-pruned model) run
        # the dense counterpart, recorded per layer: the combination is legal, only unhelpful.
        return self.dense
