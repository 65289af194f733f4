"""Layer 4: algorithms and data formats of the convolutions (and dense layers)."""

from __future__ import annotations

from search_spaces.algorithms import (  # noqa: F401  (registration)
    direct,
    im2col_gemm,
    per_layer,
    sparse_direct,
    sparse_gemm,
    sparse_spatial_pack,
    spatial_pack,
    tvm_default,
    winograd,
)
from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm
from search_spaces.algorithms._dot_product import int8_weight_peak
from search_spaces.algorithms._sparse import SPARSE_KERNEL
from search_spaces.algorithms._sparse_choice import SparseAlgorithm

__all__ = ["ALGORITHMS", "SPARSE_KERNEL", "ConvAlgorithm", "SparseAlgorithm", "int8_weight_peak"]
