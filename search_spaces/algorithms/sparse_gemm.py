"""Sparse GEMM: im2col, then a sparse (CSR or BSR) times dense matrix product.

Layers below the sparsity threshold use the dense im2col + GEMM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces.algorithms._base import ALGORITHMS
from search_spaces.algorithms._conv import ConvSpec
from search_spaces.algorithms._im2col import im2col
from search_spaces.algorithms._sparse import (
    check_threshold,
    emit_sparse,
    format_name,
    gemm_source,
    sparse_rows_compute,
    sparsify,
)
from search_spaces.algorithms._sparse_choice import SparseAlgorithm

if TYPE_CHECKING:
    from search_spaces._context import BuildContext


@ALGORITHMS.register("sparse_gemm")
class SparseGemm(SparseAlgorithm):
    description = "im2col + sparse matmul on pruned weights (CSR or BSR), dense GEMM below threshold"
    dense = "im2col_gemm"

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        check_threshold(spec, self.threshold(params))
        sw = sparsify(spec, self.block_rows(params))
        name = f"dse_sparse_gemm_{format_name(sw.block_rows)}"

        def compute(x: Any, *arrays: Any) -> Any:
            return sparse_rows_compute(spec, sw, arrays, name, gemm_source(spec, im2col(x, spec)))

        return emit_sparse(bb, call, spec, sw, "dse_sparse_gemm", compute)
