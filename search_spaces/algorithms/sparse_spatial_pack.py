"""Sparse spatial pack: packed NCHW[x]c with the weight in BSR blocks of one channel block.

A stored block is ``oc_bn`` output channels (the SIMD vector) x one tap ``(ic, kh, kw)``; it
is kept if any of its ``oc_bn`` weights is nonzero, so this skips work only where pruning
zeroed a tap for a whole channel block (structured or very high sparsity). BSR only: CSR rows
would give each vector lane a different pattern. Layers below the threshold use the dense
spatial pack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces.algorithms._base import ALGORITHMS
from search_spaces.algorithms._conv import ConvSpec
from search_spaces.algorithms._packed import block_sizes, pack_input, packed_read, unpack_output
from search_spaces.algorithms._sparse import check_threshold, decode_tap, emit_sparse, row_reduce, sparsify
from search_spaces.algorithms._sparse_choice import SparseAlgorithm

if TYPE_CHECKING:
    from search_spaces._context import BuildContext


def sparse_spatial_pack_compute(x: Any, arrays: tuple[Any, Any, Any], spec: ConvSpec, sw: Any, ic_bn: int) -> Any:
    from tvm import te

    packed = pack_input(x, spec, ic_bn)
    data, indices, indptr = arrays
    bn = sw.block_rows

    def f(n: Any, ocb: Any, y: Any, xx: Any, oci: Any) -> Any:
        def source(k: Any) -> Any:
            icg, kh, kw = decode_tap(spec, k)
            ic = ((ocb * bn + oci) // spec.out_per_group) * spec.in_per_group + icg
            return packed_read(packed, spec, ic_bn, n, ic, y, xx, kh, kw)

        return row_reduce(sw, data, indices, indptr, spec.out_dtype, ocb, oci, source)

    shape = (spec.batch, spec.out_channels // bn, spec.out_h, spec.out_w, bn)
    return unpack_output(te.compute(shape, f, name="dse_sparse_spatial_pack"), spec, bn)


@ALGORITHMS.register("sparse_spatial_pack")
class SparseSpatialPack(SparseAlgorithm):
    description = "packed NCHW[x]c conv with BSR (channel-block x 1) weights, dense pack below threshold"
    dense = "spatial_pack"
    formats = ("bsr",)

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        check_threshold(spec, self.threshold(params))
        ic_bn, oc_bn = block_sizes(spec, ctx.tvm_target)
        sw = sparsify(spec, oc_bn)

        def compute(x: Any, *arrays: Any) -> Any:
            return sparse_spatial_pack_compute(x, arrays, spec, sw, ic_bn)

        return emit_sparse(bb, call, spec, sw, "dse_sparse_spatial_pack", compute)
