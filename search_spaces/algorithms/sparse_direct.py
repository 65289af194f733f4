"""Sparse direct convolution: each output channel sums only its nonzero taps (CSR or BSR).

No im2col copy: a stored weight ``(ic, kh, kw)`` reads the padded input directly. Layers
below the sparsity threshold use the dense direct convolution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces.algorithms._base import ALGORITHMS
from search_spaces.algorithms._conv import ConvSpec, te_pad
from search_spaces.algorithms._sparse import (
    check_threshold,
    direct_source,
    emit_sparse,
    format_name,
    sparse_rows_compute,
    sparsify,
)
from search_spaces.algorithms._sparse_choice import SparseAlgorithm

if TYPE_CHECKING:
    from search_spaces._context import BuildContext


@ALGORITHMS.register("sparse_direct")
class SparseDirect(SparseAlgorithm):
    description = "sparse direct conv on pruned weights (CSR or BSR), dense direct below threshold"
    dense = "direct"

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        check_threshold(spec, self.threshold(params))
        sw = sparsify(spec, self.block_rows(params))
        name = f"dse_sparse_direct_{format_name(sw.block_rows)}"

        def compute(x: Any, *arrays: Any) -> Any:
            return sparse_rows_compute(spec, sw, arrays, name, direct_source(spec, te_pad(x, spec)))

        return emit_sparse(bb, call, spec, sw, "dse_sparse_direct", compute)
