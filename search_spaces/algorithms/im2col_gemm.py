"""im2col + GEMM: unfold the input, then one matrix product per group.

The classic Caffe / oneDNN-reference formulation: more memory traffic than a direct conv
(the unfolded input is ``K = C*KH*KW`` times the input for stride 1) but the inner loop is a
dense GEMM, which vectorizes and blocks well (``dse_gemm`` in ``schedules``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces.algorithms._base import ALGORITHMS
from search_spaces.algorithms._conv import ConvSpec
from search_spaces.algorithms._im2col import gemm_weight, im2col
from search_spaces.algorithms.direct import LayoutAlgorithm

if TYPE_CHECKING:
    from search_spaces._context import BuildContext


def gemm_compute(data: Any, weight: Any, spec: ConvSpec) -> Any:
    """Output in the call's layout, reading the unfolded input (``col``) and the GEMM weight.

    The GEMM writes pixels flattened (``[n, oc, p]`` / ``[n, p, oc]``) so a register tile is
    a rectangle of it; ``dse_unflatten`` restores the 4-D shape and is inlined by the schedule.
    """
    from tvm import te

    col = im2col(data, spec)
    od, ocg, ow = spec.out_dtype, spec.out_per_group, spec.out_w
    npix = spec.out_h * ow
    rk = te.reduce_axis((0, spec.reduce_size), name="rk")
    if spec.data_layout == "NCHW":
        flat = te.compute(
            (spec.batch, spec.out_channels, npix),
            lambda n, oc, p: te.sum(weight[oc, rk].astype(od) * col[n, oc // ocg, rk, p].astype(od), axis=rk),
            name="dse_gemm",
        )
        shape = (spec.batch, spec.out_channels, spec.out_h, ow)
        return te.compute(shape, lambda n, c, y, x: flat[n, c, y * ow + x], name="dse_unflatten")
    flat = te.compute(
        (spec.batch, npix, spec.out_channels),
        lambda n, p, oc: te.sum(col[n, oc // ocg, p, rk].astype(od) * weight[rk, oc].astype(od), axis=rk),
        name="dse_gemm_nhwc",
    )
    shape = (spec.batch, spec.out_h, ow, spec.out_channels)
    return te.compute(shape, lambda n, y, x, c: flat[n, y * ow + x, c], name="dse_unflatten")


def emit_gemm(bb: Any, call: Any, spec: ConvSpec) -> Any:
    from tvm import relax

    w = relax.const(gemm_weight(spec))
    return bb.call_te(lambda d, k: gemm_compute(d, k, spec), call.args[0], w, primfunc_name_hint="dse_gemm")


@ALGORITHMS.register("im2col_gemm")
class Im2colGemm(LayoutAlgorithm):
    description = "im2col + GEMM (NCHW or NHWC), blocked and vectorized default schedule"

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        self.require_plain_layout(spec)
        return emit_gemm(bb, call, spec)
