"""The packed NCHW[x]c data layout shared by the spatial-pack kernels (dense and sparse).

Channels are split into blocks of ``bn`` and the block index moves innermost:
``P[n, c // bn, y, x, c % bn]``. The output-channel block is the SIMD vector, so every kernel
that computes ``out[n, ocb, oh, ow, oci]`` vectorizes over ``oci`` with unit-stride loads of
the packed weight. A conv whose neighbours are NCHW packs its input and unpacks its output
(``dse_pack`` / ``dse_unpack``); between two convs whose tensors the graph already keeps
packed (spatial pack's layout flow) a dense conv only pads its input (``pad_packed``) and a
depthwise one reads it where it lies (``read_zero_padded``).
"""

from __future__ import annotations

from typing import Any

from search_spaces.algorithms._conv import ConvSpec, largest_divisor, vector_lanes


def block_sizes(spec: ConvSpec, target: Any, pad_out: bool = False) -> tuple[int, int]:
    """(input-channel block, output-channel block): the largest vector-friendly divisors.

    With ``pad_out`` (an NCHW output: the padding never leaves the kernel), a channel count with
    no divisor of half a vector or more gets a padded block of a whole or half vector instead
    (:func:`padded_channels`), whichever makes fewer blocks (a vector instruction costs about the
    same at either width), then pads less: 58 channels in blocks of 2 ran a 1x1 conv at 28x28
    in 156 us, in 4 padded blocks of 16 in 68 us (AVX-512, 2 threads). A depthwise conv then
    packs its input in that block too (its channel is its output's); a dense one reads all of
    its input channels for every output channel, so its input block stays a divisor."""
    lanes = vector_lanes(target, spec.out_dtype)
    candidates = [b for b in (lanes, lanes // 2, lanes // 4, 8, 4, 2, 1) if b >= 1]
    oc_bn = largest_divisor(spec.out_channels, candidates)
    depthwise = spec.groups == spec.in_channels == spec.out_channels > 1
    if pad_out and oc_bn < lanes // 2 and (spec.groups == 1 or depthwise):
        channels = spec.out_channels
        oc_bn = min(
            (lanes, lanes // 2), key=lambda b: (padded_channels(channels, b) // b, padded_channels(channels, b))
        )
        if depthwise:
            return oc_bn, oc_bn
    ic_bn = largest_divisor(spec.in_channels, [b for b in candidates if b <= oc_bn] or [1])
    return ic_bn, oc_bn


def padded_channels(channels: int, block: int) -> int:
    """``channels`` rounded up to a whole number of ``block``-channel blocks."""
    return -(-channels // block) * block


def pack_input(data: Any, spec: ConvSpec, ic_bn: int, offset: int = 0, dtype: str | None = None) -> Any:
    """Pad and pack NCHW ``data`` into ``[N, ceil(C / ic_bn), H', W', ic_bn]`` in one pass
    (``dse_pack``); the channels that round C up to a block are zero padding too.

    With ``offset``, every value, padding included, is shifted by it into uint8: signed int8
    plus 128 is the unsigned operand of a dot-product instruction (``_dot_product``), and its
    zero padding becomes 128. ``dtype`` widens the values instead (int16 for ``vpmaddwd``).
    """
    from tvm import te, tirx

    pt, pl = spec.pad_top, spec.pad_left
    shape = (
        spec.batch,
        -(-spec.in_channels // ic_bn),
        spec.height + pt + spec.pad_bottom,
        spec.width + pl + spec.pad_right,
        ic_bn,
    )
    packed_dtype = "uint8" if offset else dtype or data.dtype
    dtype = "int32" if offset else packed_dtype

    zero, last = tirx.const(0, dtype), spec.in_channels - 1
    pads_channels = spec.in_channels % ic_bn != 0

    def f(n: Any, cb: Any, y: Any, x: Any, ci: Any) -> Any:
        c = cb * ic_bn + ci
        inside = tirx.all(y >= pt, y < spec.height + pt, x >= pl, x < spec.width + pl)
        value = data[n, tirx.min(c, last) if pads_channels else c, y - pt, x - pl].astype(dtype)
        if pads_channels:  # lane by lane: TVM runs a vector if_then_else one lane at a time
            value = tirx.Select(c <= last, value, zero)  # the clamped read is in bounds
        value = tirx.if_then_else(inside, value, zero)
        return (value + offset).astype("uint8") if offset else value

    return te.compute(shape, f, name="dse_pack")


def pad_packed(data: Any, spec: ConvSpec) -> Any:
    """Zero-pad the spatial dims of an already packed ``[N, C / bn, H, W, bn]`` input (``dse_pack``,
    so it is scheduled like a pack); unpadded convs read their input as it is."""
    from tvm import te, tirx

    pt, pl, pb, pr = spec.pad_top, spec.pad_left, spec.pad_bottom, spec.pad_right
    if pt == pl == pb == pr == 0:
        return data
    n, cb, h, w, bn = (int(d) for d in data.shape)
    zero = tirx.const(0, data.dtype)

    def f(i: Any, c: Any, y: Any, x: Any, ci: Any) -> Any:
        inside = tirx.all(y >= pt, y < h + pt, x >= pl, x < w + pl)
        return tirx.if_then_else(inside, data[i, c, y - pt, x - pl, ci], zero)

    return te.compute((n, cb, h + pt + pb, w + pl + pr, bn), f, name="dse_pack")


def read_zero_padded(data: Any, spec: ConvSpec, ic_bn: int, n: Any, ic: Any, y: Any, x: Any, kh: Any, kw: Any) -> Any:
    """An unpadded packed ``[N, C / bn, H, W, bn]`` input at input channel ``ic`` under kernel
    tap (kh, kw) of output pixel (y, x), zero where the tap falls in the padding: what
    :func:`packed_read` reads from a padded copy (``pad_packed``), read where it lies instead. The position is clamped into the tensor and the value selected
    away where it is outside: both sides of a ``Select`` are evaluated, so the read must be in
    bounds, and it stays a branch-free vector blend (``if_then_else`` is run one lane at a time).

    A 3x3 depthwise conv reads each input value for 9 multiply-adds, so a padded copy of its
    input costs about as much as the conv: MobileNetV2 fp32's depthwise layers read in place
    took the model x0.95-0.97 (Zen 5, 2 threads). Dense convs reuse each read for a vector of
    output channels, and the select in their inner loop made ResNet-18 x1.63; 5x5 depthwise
    ones lost too (``spatial_pack.IN_PLACE_MAX_TAPS``)."""
    from tvm import tirx

    h, w = int(data.shape[2]), int(data.shape[3])
    row = y * spec.stride_h + kh * spec.dilation_h - spec.pad_top
    column = x * spec.stride_w + kw * spec.dilation_w - spec.pad_left
    inside = tirx.all(row >= 0, row < h, column >= 0, column < w)
    clamped_row, clamped_column = tirx.min(tirx.max(row, 0), h - 1), tirx.min(tirx.max(column, 0), w - 1)
    value = data[n, ic // ic_bn, clamped_row, clamped_column, ic % ic_bn]
    return tirx.Select(inside, value, tirx.const(0, data.dtype))


def pad_packed_groups(data: Any, spec: ConvSpec, group: int, offset: int, dtype: str | None = None) -> Any:
    """An already packed int8 ``[N, C / bn, H, W, bn]`` input, zero-padded, viewed as
    ``[N, C / bn, H', W', bn / group, group]`` (``dse_pack``): each group of values one
    dot-product instruction takes is a unit of its own (``_dot_product``). With ``offset``,
    shifted by it into uint8, with ``dtype`` widened to it, as :func:`pack_input`."""
    from tvm import te, tirx

    pt, pl, pb, pr = spec.pad_top, spec.pad_left, spec.pad_bottom, spec.pad_right
    n, cb, h, w, bn = (int(d) for d in data.shape)
    dtype = "int32" if offset else dtype or data.dtype

    def f(i: Any, c: Any, y: Any, x: Any, q: Any, r: Any) -> Any:
        inside = tirx.all(y >= pt, y < h + pt, x >= pl, x < w + pl)
        value = data[i, c, y - pt, x - pl, q * group + r].astype(dtype)
        value = tirx.if_then_else(inside, value, tirx.const(0, dtype))
        return (value + offset).astype("uint8") if offset else value

    shape = (n, cb, h + pt + pb, w + pl + pr, bn // group, group)
    return te.compute(shape, f, name="dse_pack")


def packed_read(packed: Any, spec: ConvSpec, ic_bn: int, n: Any, ic: Any, y: Any, x: Any, kh: Any, kw: Any) -> Any:
    """``packed`` at input channel ``ic`` under kernel tap (kh, kw) of output pixel (y, x)."""
    return packed[
        n, ic // ic_bn, y * spec.stride_h + kh * spec.dilation_h, x * spec.stride_w + kw * spec.dilation_w, ic % ic_bn
    ]


def unpack_output(out5: Any, spec: ConvSpec, oc_bn: int) -> Any:
    """NCHW[oc_bn]c -> NCHW (``dse_unpack``; inlined into the epilogue by the schedule); a
    padded last block's extra channels are left behind."""
    from tvm import te

    shape = (spec.batch, spec.out_channels, spec.out_h, spec.out_w)
    return te.compute(shape, lambda n, c, y, x: out5[n, c // oc_bn, y, x, c % oc_bn], name="dse_unpack")


def reblock_output(out5: Any, spec: ConvSpec, oc_bn: int, out_block: int) -> Any:
    """NCHW[oc_bn]c -> NCHW[out_block]c (``dse_unpack``, inlined into the epilogue); a padded last
    block's extra channels are left behind."""
    from tvm import te

    shape = (spec.batch, spec.out_channels // out_block, spec.out_h, spec.out_w, out_block)

    def f(n: Any, cb: Any, y: Any, x: Any, c: Any) -> Any:
        channel = cb * out_block + c
        return out5[n, channel // oc_bn, y, x, channel % oc_bn]

    return te.compute(shape, f, name="dse_unpack")


def pack_weight(spec: ConvSpec, oc_bn: int) -> Any:
    """OIHW -> ``[ceil(OC / oc_bn), I, KH, KW, oc_bn]``, the output channels that round OC up to
    a block zero (numpy, done once at compile time)."""
    import numpy as np

    w = spec.require_constant_weight()
    padded = padded_channels(spec.out_channels, oc_bn)
    if padded != spec.out_channels:
        w = np.concatenate([w, np.zeros((padded - spec.out_channels, *w.shape[1:]), dtype=w.dtype)])
    w5 = w.reshape(padded // oc_bn, oc_bn, spec.in_per_group, spec.kernel_h, spec.kernel_w)
    return np.ascontiguousarray(w5.transpose(0, 2, 3, 4, 1))


def pack_weight_dot(spec: ConvSpec, lanes: int, group: int, offset: int, dtype: str = "int8") -> tuple[Any, Any]:
    """int8 OIHW -> ``[ceil(O / lanes), ceil(I / group), KH, KW, lanes, group]`` of ``dtype``
    (zero-filled) and the per-output-channel compensation ``offset * sum(w)`` for activations
    shifted by ``offset`` (int32, length O), in numpy."""
    import numpy as np

    w = spec.require_constant_weight()
    oc_pad = padded_channels(spec.out_channels, lanes)
    ic_pad = padded_channels(spec.in_channels, group)
    padded = np.zeros((oc_pad, ic_pad, spec.kernel_h, spec.kernel_w), dtype=dtype)
    padded[: spec.out_channels, : spec.in_channels] = w
    w6 = padded.reshape(oc_pad // lanes, lanes, ic_pad // group, group, spec.kernel_h, spec.kernel_w)
    packed = np.ascontiguousarray(w6.transpose(0, 2, 4, 5, 1, 3))
    compensation = (offset * w.astype(np.int64).sum(axis=(1, 2, 3))).astype(np.int32)
    return packed, compensation
