"""Shared parameters of the sparse algorithms: format (CSR/BSR), BSR block rows, threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

from search_spaces._base import Param, Params
from search_spaces.algorithms._base import ConvAlgorithm
from search_spaces.algorithms._sparse import BLOCK_ROWS, FORMATS, THRESHOLDS

if TYPE_CHECKING:
    pass


class SparseAlgorithm(ConvAlgorithm):
    """A sparse kernel for layers whose weight sparsity reaches ``threshold``; the rest use
    ``dense`` (the dense counterpart), recorded per layer."""

    dense = "direct"
    formats: tuple[str, ...] = FORMATS

    def parameters(self) -> tuple[Param, ...]:
        """The threshold; the format when there is a choice of one; BSR's block rows under BSR."""
        if len(self.formats) == 1:
            return (Param("threshold", THRESHOLDS),)
        return (
            Param("threshold", THRESHOLDS),
            Param("format", self.formats),
            Param("block", BLOCK_ROWS, when=("format", "bsr")),
        )

    def block_rows(self, params: Params) -> int:
        return int(params.get("block", 8)) if params.get("format", "csr") == "bsr" else 1

    def threshold(self, params: Params) -> float:
        return float(params.get("threshold", 0.5))

    def fallback(self, params: Params) -> str | None:
        # Layers below the threshold (all of them in an unpruned or channel-pruned model) run
        # the dense counterpart, recorded per layer: the combination is legal, only unhelpful.
        return self.dense
