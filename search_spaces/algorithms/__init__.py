"""Layer 4: algorithms and data formats of the convolutions (and dense layers)."""

from __future__ import annotations

from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm
from search_spaces.algorithms import tvm_default  # noqa: F401  (registration)
from search_spaces.algorithms import direct, im2col_gemm, spatial_pack, winograd  # noqa: F401
from search_spaces.algorithms import sparse_direct, sparse_gemm, sparse_spatial_pack  # noqa: F401

__all__ = ["ALGORITHMS", "ConvAlgorithm"]
