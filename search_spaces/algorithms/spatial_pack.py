"""Spatial pack: convolution in the packed NCHW[x]c layout (TVM's x86 / Arm CPU conv).

The same computation as ``topi.nn.conv2d_NCHWc`` (written here so groups and depthwise are
covered by one compute and its block is named ``dse_spatial_pack``). The output-channel block
is the SIMD vector and a row of output pixels is kept in registers (``schedules``).

An int8 convolution on a target with a dot-product instruction (x86 VNNI, see
``_dot_product``) takes the ``dse_spatial_pack_dot`` form instead: input channels packed in
groups of 4 bytes, weights as ``[OCB, ICB, KH, KW, lanes, 4]``, and the innermost two loops
tensorized into one instruction. Depthwise and grouped convolutions keep the widening form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm
from search_spaces.algorithms._conv import ConvSpec, NotApplicable
from search_spaces.algorithms._dot_product import ACTIVATION_OFFSET, GROUP, DotProduct, dot_product_for
from search_spaces.algorithms._packed import (
    block_sizes,
    pack_input,
    pack_weight,
    pack_weight_dot,
    packed_read,
    unpack_output,
)

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


def spatial_pack_dot_compute(data: Any, weight: Any, compensation: Any, spec: ConvSpec, lanes: int) -> Any:
    """int8 NCHW in, int32 NCHW out, on a dot-product instruction of ``lanes`` lanes.

    ``weight`` and ``compensation`` are :func:`pack_weight_dot`'s. The reduction's innermost
    axis is the 4 bytes of one instruction's group, and the output-channel block is its lanes.
    """
    from tvm import te

    packed = pack_input(data, spec, GROUP, offset=ACTIVATION_OFFSET)
    rco = te.reduce_axis((0, packed.shape[1]), name="rco")
    rkh = te.reduce_axis((0, spec.kernel_h), name="rkh")
    rkw = te.reduce_axis((0, spec.kernel_w), name="rkw")
    rci = te.reduce_axis((0, GROUP), name="rci")
    sh, sw, dh, dw = spec.stride_h, spec.stride_w, spec.dilation_h, spec.dilation_w

    def f(n: Any, ocb: Any, y: Any, x: Any, oci: Any) -> Any:
        src = packed[n, rco, y * sh + rkh * dh, x * sw + rkw * dw, rci].astype("int32")
        return te.sum(src * weight[ocb, rco, rkh, rkw, oci, rci].astype("int32"), axis=[rco, rkh, rkw, rci])

    shape = (spec.batch, weight.shape[0], spec.out_h, spec.out_w, lanes)
    out5 = te.compute(shape, f, name="dse_spatial_pack_dot")
    return te.compute(
        (spec.batch, spec.out_channels, spec.out_h, spec.out_w),
        lambda n, c, y, x: out5[n, c // lanes, y, x, c % lanes] - compensation[c],
        name="dse_unpack",
    )


def dot_product_applies(spec: ConvSpec, target: Any) -> DotProduct | None:
    """The instruction an int8 x int8 -> int32 dense convolution can use on ``target``, if any."""
    if (spec.in_dtype, spec.weight_dtype, spec.out_dtype) != ("int8", "int8", "int32") or spec.groups != 1:
        return None
    return dot_product_for(target)


def emit_spatial_pack(bb: Any, call: Any, spec: ConvSpec, ctx: BuildContext) -> Any:
    from tvm import relax

    if spec.data_layout != "NCHW":
        raise NotApplicable("spatial pack takes NCHW input")
    dot = dot_product_applies(spec, ctx.tvm_target)
    if dot is not None:
        weight, compensation = pack_weight_dot(spec, dot.lanes, GROUP)
        ctx.info.setdefault("dot_product", {"instruction": dot.name, "layers": 0})["layers"] += 1
        return bb.call_te(
            lambda d, k, c: spatial_pack_dot_compute(d, k, c, spec, dot.lanes),
            call.args[0],
            relax.const(weight),
            relax.const(compensation),
            primfunc_name_hint="dse_spatial_pack_dot",
        )
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
