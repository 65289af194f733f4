"""Sparse direct convolution: each output channel sums only its nonzero taps (CSR or BSR).

No im2col copy: a stored weight ``(ic, kh, kw)`` reads the padded input directly. Layers
below the sparsity threshold use the dense direct convolution.
"""

from __future__ import annotations

from typing import Any

from search_spaces.algorithms._base import ALGORITHMS
from search_spaces.algorithms._conv import ConvSpec, te_pad
from search_spaces.algorithms._sparse import direct_source
from search_spaces.algorithms._sparse_choice import SparseAlgorithm


@ALGORITHMS.register("sparse_direct")
class SparseDirect(SparseAlgorithm):
    description = "sparse direct conv on pruned weights (CSR or BSR), dense direct below threshold"
    dense = "direct"

    def row_source(self, spec: ConvSpec, x: Any) -> Any:
        return direct_source(spec, te_pad(x, spec))
