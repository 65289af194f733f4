"""Spatial pack: convolution in the packed NCHW[x]c layout (TVM's x86 / Arm CPU conv).

The same computation as ``topi.nn.conv2d_NCHWc`` (written here so groups and depthwise are
covered by one compute and its block is named ``dse_spatial_pack``). The output-channel block
is the SIMD vector and a row of output pixels is kept in registers (``schedules``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm
from search_spaces.algorithms._conv import ConvSpec, NotApplicable
from search_spaces.algorithms._packed import block_sizes, pack_input, pack_weight, packed_read, unpack_output

if TYPE_CHECKING:
    from search_spaces._context import BuildContext


def spatial_pack_compute(data: Any, weight: Any, spec: ConvSpec, ic_bn: int, oc_bn: int) -> Any:
    """NCHW in, NCHW out; packed in between. ``weight`` is ``pack_weight``'s layout."""
    from tvm import te

    packed = pack_input(data, spec, ic_bn)
    od, icg, ocg = spec.out_dtype, spec.in_per_group, spec.out_per_group
    ric = te.reduce_axis((0, icg), name="ric")
    rkh = te.reduce_axis((0, spec.kernel_h), name="rkh")
    rkw = te.reduce_axis((0, spec.kernel_w), name="rkw")

    def f(n: Any, ocb: Any, y: Any, x: Any, oci: Any) -> Any:
        ic = ((ocb * oc_bn + oci) // ocg) * icg + ric
        src = packed_read(packed, spec, ic_bn, n, ic, y, x, rkh, rkw).astype(od)
        return te.sum(src * weight[ocb, ric, rkh, rkw, oci].astype(od), axis=[ric, rkh, rkw])

    shape = (spec.batch, spec.out_channels // oc_bn, spec.out_h, spec.out_w, oc_bn)
    out5 = te.compute(shape, f, name="dse_spatial_pack")
    return unpack_output(out5, spec, oc_bn)


def emit_spatial_pack(bb: Any, call: Any, spec: ConvSpec, ctx: BuildContext) -> Any:
    from tvm import relax

    if spec.data_layout != "NCHW":
        raise NotApplicable("spatial pack takes NCHW input")
    ic_bn, oc_bn = block_sizes(spec, ctx.tvm_target)
    w = relax.const(pack_weight(spec, oc_bn))
    return bb.call_te(
        lambda d, k: spatial_pack_compute(d, k, spec, ic_bn, oc_bn),
        call.args[0],
        w,
        primfunc_name_hint="dse_spatial_pack",
    )


@ALGORITHMS.register("spatial_pack")
class SpatialPack(ConvAlgorithm):
    description = "spatial pack (packed NCHW[x]c, vectorized over output-channel blocks)"

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        return emit_spatial_pack(bb, call, spec, ctx)
