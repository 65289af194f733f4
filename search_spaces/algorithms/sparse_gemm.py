"""Sparse GEMM: im2col, then a sparse (CSR or BSR) times dense matrix product.

Layers below the sparsity threshold use the dense im2col + GEMM.
"""

from __future__ import annotations

from typing import Any

from search_spaces.algorithms._base import ALGORITHMS
from search_spaces.algorithms._conv import ConvSpec
from search_spaces.algorithms._im2col import im2col
from search_spaces.algorithms._sparse import gemm_source
from search_spaces.algorithms._sparse_choice import SparseAlgorithm


@ALGORITHMS.register("sparse_gemm")
class SparseGemm(SparseAlgorithm):
    description = "im2col + sparse matmul on pruned weights (CSR or BSR), dense GEMM below threshold"
    dense = "im2col_gemm"

    def row_source(self, spec: ConvSpec, x: Any) -> Any:
        return gemm_source(spec, im2col(x, spec))
