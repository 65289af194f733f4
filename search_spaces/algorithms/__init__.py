"""Layer 4: algorithms and data formats of the convolutions (and dense layers)."""

from __future__ import annotations

from search_spaces.algorithms import (  # noqa: F401  # noqa: F401
    direct,
    im2col_gemm,
    sparse_direct,
    sparse_gemm,
    sparse_spatial_pack,
    spatial_pack,
    tvm_default,
    winograd,
)
from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm

__all__ = ["ALGORITHMS", "ConvAlgorithm"]
