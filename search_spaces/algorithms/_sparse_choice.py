"""What the sparse algorithms share: their parameters (format, BSR block rows, threshold), the
dense fallback below the threshold, and the row-sparse kernel of ``sparse_direct``/``sparse_gemm``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Param, Params
from search_spaces.algorithms._base import ConvAlgorithm
from search_spaces.algorithms._sparse import (
    BLOCK_ROWS,
    FORMATS,
    THRESHOLDS,
    check_threshold,
    emit_sparse,
    format_name,
    sparse_rows_compute,
    sparsify,
)

if TYPE_CHECKING:
    from search_spaces._context import BuildContext
    from search_spaces.algorithms._conv import ConvSpec


class SparseAlgorithm(ConvAlgorithm):
    """A sparse kernel for layers whose weight sparsity reaches ``threshold``; the rest use
    ``dense`` (the dense counterpart), recorded per layer."""

    sparse = True
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

    def row_source(self, spec: ConvSpec, x: Any) -> Any:
        """The dense rows a row-sparse kernel multiplies (a padded input, or its im2col matrix)."""
        raise NotImplementedError(f"{self.name} emits its own kernel")

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        """A row-sparse kernel (CSR/BSR rows of the weight times :meth:`row_source`)."""
        check_threshold(spec, self.threshold(params))
        sw = sparsify(spec, self.block_rows(params))
        name = f"dse_{self.name}_{format_name(sw.block_rows)}"

        def compute(x: Any, *arrays: Any) -> Any:
            return sparse_rows_compute(spec, sw, arrays, name, self.row_source(spec, x))

        return emit_sparse(bb, call, spec, sw, f"dse_{self.name}", compute)

    def fallback(self, params: Params) -> str | None:
        # Layers below the threshold (all of them in an unpruned or channel-pruned model) run
        # the dense counterpart, recorded per layer: the combination is legal, only unhelpful.
        return self.dense
