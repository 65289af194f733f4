"""Spatial pack: convolution in the packed NCHW[x]c layout (TVM's x86 / Arm CPU conv).

The same computation as ``topi.nn.conv2d_NCHWc`` (written here so groups and depthwise are
covered by one compute and its block is named ``dse_spatial_pack``). The output-channel block
is the SIMD vector and a row of output pixels is kept in registers (``schedules``).

An int8 convolution on a target with a dot-product instruction (x86 VNNI, Arm ``sdot``, or
where there is no VNNI x86's ``vpmaddubsw`` for weights within +-64, else ``vpmaddwd`` on int16
pairs; see ``_dot_product``) takes the ``dse_spatial_pack_dot`` form instead: input channels
packed in groups of 4 bytes (2 int16), weights as ``[OCB, ICB, KH, KW, lanes, group]``, and the
innermost two loops tensorized into one instruction (the block names it). Depthwise and grouped
convolutions keep the widening form.
The instruction's width follows the output's channel block: AVX-512 VNNI runs 16 lanes, or 8
on 256-bit registers where a tensor's block is 8; ``vpmaddubsw`` and ``vpmaddwd`` 16 on
AVX-512, 8 on AVX2; Arm's ``sdot`` 4 (a 128-bit register). The int8 classifier (a matmul with
a constant weight) is rewritten as the 1x1 conv it is, so it runs on the instruction too.

Layout flow (``prepare``): float and int8 convolutions, dense or depthwise, take and give the packed
layout itself (``relax.nn.conv2d`` in ``NCHW[x]c``, via ``relax.transform.ConvertLayout``), so
the elementwise ops, residual adds and pooling between them stay packed and the graph converts
layouts only at its edges and around operators that need NCHW (TVM's NeoCPU approach), instead
of packing and unpacking around every conv. A tensor's block is set by its channel count alone
(``flow_block``), so a producer's packed output is its consumer's packed input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces._rewrites import clip_as_min_max, qdq_as_elementwise
from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm
from search_spaces.algorithms._conv import ConvSpec, NotApplicable, largest_divisor, vector_bits, vector_lanes
from search_spaces.algorithms._dot_product import (
    DOT_ANNOTATION,
    DotProduct,
    dot_product_for,
    dot_products_for,
)
from search_spaces.algorithms._packed import (
    block_sizes,
    pack_input,
    pack_weight,
    pack_weight_dot,
    packed_read,
    pad_packed,
    pad_packed_groups,
    read_zero_padded,
    reblock_output,
    unpack_output,
)

if TYPE_CHECKING:
    from search_spaces._context import BuildContext


#: The most kernel taps a depthwise conv reads its packed input in place with (``read_zero_padded``).
#: 5x5 depthwise convs ran slower so (EfficientNet-B0's at 28x28 200 -> 267 us, the model
#: x1.02-1.03; with them padded into a copy x0.988 of before, MNASNet x0.967), 3x3 ones faster.
IN_PLACE_MAX_TAPS = 9


def spatial_pack_compute(data: Any, weight: Any, spec: ConvSpec, ic_bn: int, oc_bn: int) -> Any:
    """NCHW in, NCHW out, packed in between; or, on the sides the spec says are blocked
    (``in_block``, ``out_block``), packed in or out as they are. ``weight`` is ``pack_weight``'s layout."""
    from tvm import te

    # A packed depthwise input of at most 3x3 taps is read in place (``read_zero_padded``), any
    # other padded once
    in_place = bool(spec.in_block) and spec.groups > 1 and spec.kernel_h * spec.kernel_w <= IN_PLACE_MAX_TAPS
    packed = data if in_place else pad_packed(data, spec) if spec.in_block else pack_input(data, spec, ic_bn)
    read = read_zero_padded if in_place else packed_read
    od, icg, ocg = spec.out_dtype, spec.in_per_group, spec.out_per_group
    ric = te.reduce_axis((0, icg), name="ric")
    rkh = te.reduce_axis((0, spec.kernel_h), name="rkh")
    rkw = te.reduce_axis((0, spec.kernel_w), name="rkw")

    def f(n: Any, ocb: Any, y: Any, x: Any, oci: Any) -> Any:
        # One group reads every input channel: written so, a padded output channel's group is
        # still the one that exists (its weights are zero)
        ic = ric if spec.groups == 1 else ((ocb * oc_bn + oci) // ocg) * icg + ric
        src = read(packed, spec, ic_bn, n, ic, y, x, rkh, rkw).astype(od)
        return te.sum(src * weight[ocb, ric, rkh, rkw, oci].astype(od), axis=[ric, rkh, rkw])

    shape = (spec.batch, int(weight.shape[0]), spec.out_h, spec.out_w, oc_bn)
    out5 = te.compute(shape, f, name="dse_spatial_pack")
    if not spec.out_block:
        return unpack_output(out5, spec, oc_bn)
    return out5 if oc_bn == spec.out_block else reblock_output(out5, spec, oc_bn, spec.out_block)


def spatial_pack_dot_compute(data: Any, weight: Any, compensation: Any, spec: ConvSpec, dot: DotProduct) -> Any:
    """int8 NCHW (or packed) in, int32 NCHW (or packed) out, on the dot-product instruction ``dot``.

    ``weight`` and ``compensation`` are :func:`pack_weight_dot`'s. The reduction's innermost
    axis is the ``g`` values of one instruction's group (4 bytes, or 2 int16), and the
    output-channel block is its lanes. A packed input (``spec.in_block``, a multiple of 4)
    already holds each group's values side by side: it is only padded and offset (or widened),
    viewed as ``[N, C / b, H, W, b / g, g]``.
    """
    from tvm import te

    sh, sw, dh, dw = spec.stride_h, spec.stride_w, spec.dilation_h, spec.dilation_w
    lanes, offset, group = dot.lanes, dot.activation_offset, dot.group
    if spec.in_block:
        packed = pad_packed_groups(data, spec, group, offset=offset, dtype=dot.activations)
        per_block = spec.in_block // group

        def source(n: Any, rco: Any, y: Any, x: Any, rci: Any) -> Any:
            return packed[n, rco // per_block, y, x, rco % per_block, rci]

        groups = spec.in_channels // group
    else:
        packed = pack_input(data, spec, group, offset=offset, dtype=dot.activations)

        def source(n: Any, rco: Any, y: Any, x: Any, rci: Any) -> Any:
            return packed[n, rco, y, x, rci]

        groups = int(packed.shape[1])
    rco = te.reduce_axis((0, groups), name="rco")
    rkh = te.reduce_axis((0, spec.kernel_h), name="rkh")
    rkw = te.reduce_axis((0, spec.kernel_w), name="rkw")
    rci = te.reduce_axis((0, group), name="rci")

    def f(n: Any, ocb: Any, y: Any, x: Any, oci: Any) -> Any:
        src = source(n, rco, y * sh + rkh * dh, x * sw + rkw * dw, rci).astype("int32")
        return te.sum(src * weight[ocb, rco, rkh, rkw, oci, rci].astype("int32"), axis=[rco, rkh, rkw, rci])

    shape = (spec.batch, weight.shape[0], spec.out_h, spec.out_w, lanes)
    # The block names its instruction: the schedule tensorizes with it (two instructions can
    # share lanes and operand types, e.g. VNNI and vpmaddubsw).
    out5 = te.compute(shape, f, name="dse_spatial_pack_dot", attrs={DOT_ANNOTATION: dot.tensor_intrinsic})

    def compensated(value: Any, channel: Any) -> Any:
        return value - compensation[channel] if offset else value  # unshifted activations: nothing to undo

    if spec.out_block:  # packed out: lanes == out_block (_flow_layouts)
        return te.compute(
            shape,
            lambda n, cb, y, x, c: compensated(out5[n, cb, y, x, c], cb * lanes + c),
            name="dse_unpack",
        )
    return te.compute(
        (spec.batch, spec.out_channels, spec.out_h, spec.out_w),
        lambda n, c, y, x: compensated(out5[n, c // lanes, y, x, c % lanes], c),
        name="dse_unpack",
    )


def dot_product_applies(spec: ConvSpec, target: Any) -> DotProduct | None:
    """The instruction an int8 x int8 -> int32 dense convolution can use on ``target``, if any:
    the fastest that is exact for its weights."""
    import numpy as np

    if (spec.in_dtype, spec.weight_dtype, spec.out_dtype) != ("int8", "int8", "int32") or spec.groups != 1:
        return None
    weight_peak = int(np.abs(spec.require_constant_weight().astype(np.int16)).max(initial=0))
    return dot_product_for(target, spec.out_block or None, weight_peak)  # packed out: its block is the lanes


def _whole_vector_block(spec: ConvSpec, target: Any) -> int | None:
    """The output-channel block a dense float conv computes in when its packed output's block is
    part of a vector and its channels are not whole vectors, on a CPU whose 512-bit FMAs run at
    full rate: one whole vector, the channels that round them up zero, re-blocked into the
    packed block in the epilogue (``reblock_output``). None: the packed block as it is.

    MobileNetV2's 24-channel layers on AVX-512 are packed in blocks of 8: three 256-bit FMAs per
    input value, half the vector unit. Two zero-padded 512-bit ones do the same work (32 lanes
    for 24) where 512-bit FMAs run at full rate (a Zen 5 EPYC: the model x0.97, the 144->24
    layer 100 -> 79 us), and take 4/3 as many cycles where the core splits them in two (Zen 4):
    the rate is probed on this host (``full_rate_512``), and another CPU's code keeps its blocks."""
    from search_spaces.targets import full_rate_512

    float32 = spec.is_float and spec.out_dtype == "float32"  # what the probe times
    if target is None or vector_bits(target) != 512 or not (float32 and spec.groups == 1):
        return None
    lanes, block = vector_lanes(target, spec.out_dtype), spec.out_block
    if not block or not block < lanes < spec.out_channels or spec.out_channels % lanes == 0:
        return None
    return lanes if full_rate_512(str(target.attrs.get("mcpu", ""))) else None


def emit_spatial_pack(bb: Any, call: Any, spec: ConvSpec, ctx: BuildContext) -> Any:
    from tvm import relax

    if spec.data_layout != "NCHW" and not spec.blocked:
        raise NotApplicable("spatial pack takes NCHW or packed NCHW[x]c input")
    dot = dot_product_applies(spec, ctx.tvm_target)
    if dot is not None:
        weight, compensation = pack_weight_dot(spec, dot.lanes, dot.group, dot.activation_offset, dot.weights)
        ctx.info.setdefault("dot_product", {"instruction": dot.name, "layers": 0})["layers"] += 1
        return bb.call_te(
            lambda d, k, c: spatial_pack_dot_compute(d, k, c, spec, dot),
            call.args[0],
            relax.const(weight),
            relax.const(compensation),
            primfunc_name_hint="dse_spatial_pack_dot",
        )
    ic_bn, oc_bn = block_sizes(spec, ctx.tvm_target, pad_out=not spec.out_block)
    ic_bn, oc_bn = spec.in_block or ic_bn, spec.out_block or oc_bn
    oc_bn = _whole_vector_block(spec, ctx.tvm_target) or oc_bn
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

    def prepare(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        return flow_packed_layout(mod, ctx.tvm_target)

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        return emit_spatial_pack(bb, call, spec, ctx)


def flow_block(channels: int, target: Any) -> int:
    """The channel block of a packed tensor of ``channels`` channels on ``target``: the widest of
    one or half a float32 vector that divides it, at least 4 (0: left NCHW). A quarter vector
    runs a conv at a quarter of the vector unit; left NCHW, the conv computes in padded whole
    vectors (``block_sizes``) and packs and unpacks around itself, which costs less (ShuffleNetV2's
    116-channel stage in blocks of 4 on AVX-512: the model fp32 x0.79 left NCHW)."""
    lanes = vector_lanes(target, "float32")
    block = largest_divisor(channels, [b for b in (lanes, lanes // 2) if b >= 4])
    return block if block >= 4 else 0


def _flow_layouts(call: Any, target: Any) -> dict[str, list[str]]:
    """The layouts (data, kernel, output) ``call`` takes in the flow, by ``relax.nn.conv2d``:
    packed where spatial pack computes it packed (a float or int8 conv, dense or depthwise,
    with a constant weight; an int8 one on a dot-product instruction only where the output's
    block is the lanes of one the target has), else NCHW."""
    import tvm

    plain = {"relax.nn.conv2d": ["NCHW", "OIHW", "NCHW"]}
    if str(call.op.name) != "relax.nn.conv2d":
        return {}
    attrs = call.attrs
    data, weight = call.args[0], call.args[1]
    if (str(attrs.data_layout), str(attrs.kernel_layout), str(attrs.out_layout)) != ("NCHW", "OIHW", "NCHW"):
        return {}
    dtype = str(data.ty.dtype)
    if not isinstance(weight, tvm.ir.expr.Constant) or not (dtype.startswith("float") or dtype == "int8"):
        return plain
    try:
        (_, in_channels, _, _), (out_channels, _, _, _) = (
            [int(d) for d in arg.ty.shape.values] for arg in (data, weight)
        )
    except (AttributeError, TypeError, ValueError):  # dynamic or not 4-D
        return plain
    groups = int(attrs.groups)
    depthwise = groups > 1 and groups == in_channels == out_channels
    if groups != 1 and not depthwise:
        return plain
    block_in, block_out = flow_block(in_channels, target), flow_block(out_channels, target)
    dots = dot_products_for(target) if dtype == "int8" and groups == 1 else ()
    if not block_out or (dots and block_out not in {dot.lanes for dot in dots}):
        return plain
    data_layout = f"NCHW{block_in}c" if block_in else "NCHW"
    input_block = "1i" if depthwise else f"{block_in}i" if block_in else ""  # depthwise: 1 channel per group
    kernel = f"OIHW{input_block}{block_out}o"
    return {"relax.nn.conv2d": [data_layout, kernel, f"NCHW{block_out}c"]}


def flow_packed_layout(mod: Any, target: Any) -> Any:
    """Convert the convolutions spatial pack computes packed (``_flow_layouts``) to the packed
    layout, and let what lies between them follow; GPU targets are left alone."""
    from tvm import relax

    if target is None or str(target.kind.name) != "llvm":
        return mod
    mod = clip_as_min_max(mod)  # ConvertLayout keeps clip (ReLU6) in NCHW
    mod = qdq_as_elementwise(mod)  # and per-channel (de)quantize: its axis is no axis when packed
    if dot_products_for(target):
        mod = int8_matmul_as_conv(mod)
    return relax.transform.ConvertLayout({}, layout_cb=lambda call: _flow_layouts(call, target))(mod)


def int8_matmul_as_conv(mod: Any) -> Any:
    """An int8 ``[M, K] x [K, N]`` matmul with a constant weight (the classifier) as the 1x1
    convolution it is, so it runs on the dot-product kernel: TVM's matmul widens each int8
    product to int32 (MobileNetV2's 1280x1000 classifier: 0.16 ms of 4)."""
    import numpy as np
    from tvm import relax
    from tvm.relax.dpl import is_const, is_op, rewrite_call, wildcard

    data, weight = wildcard(), is_const()
    pattern = is_op("relax.matmul")(data, weight)

    def rewrite(expr: Any, matches: Any) -> Any:
        # ``expr`` can be the variable the matmul is bound to (a function's last binding): the
        # call itself is the pattern's match.
        call, x, constant = matches[pattern], matches[data], matches[weight]
        shape = getattr(x.ty, "shape", None)
        if shape is None or len(shape.values) != 2 or str(call.attrs.out_dtype) != "int32":
            return expr
        if (str(x.ty.dtype), str(constant.ty.dtype)) != ("int8", "int8"):
            return expr  # decided from the types: a float classifier's weight is not copied out
        try:
            rows, depth = (int(d) for d in shape.values)
        except TypeError:  # a dynamic batch
            return expr
        w = constant.value.numpy()
        if w.ndim != 2:
            return expr
        columns = int(w.shape[1])
        kernel = relax.const(np.ascontiguousarray(w.T.reshape(columns, depth, 1, 1)))
        conv = relax.op.nn.conv2d(relax.op.reshape(x, [rows, depth, 1, 1]), kernel, out_dtype="int32")
        return relax.op.reshape(conv, [rows, columns])

    for var, func in list(mod.functions.items()):
        if isinstance(func, relax.Function):
            mod[var] = rewrite_call(pattern, rewrite, func)
    return mod
