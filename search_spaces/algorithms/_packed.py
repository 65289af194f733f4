"""The packed NCHW[x]c data layout shared by the spatial-pack kernels (dense and sparse).

Channels are split into blocks of ``bn`` and the block index moves innermost:
``P[n, c // bn, y, x, c % bn]``. The output-channel block is the SIMD vector, so every kernel
that computes ``out[n, ocb, oh, ow, oci]`` vectorizes over ``oci`` with unit-stride loads of
the packed weight. Each conv packs its input and unpacks its output (``dse_pack`` /
``dse_unpack``), so the graph around it stays NCHW.
"""

from __future__ import annotations

from typing import Any

from search_spaces.algorithms._conv import ConvSpec, largest_divisor, vector_lanes


def block_sizes(spec: ConvSpec, target: Any) -> tuple[int, int]:
    """(input-channel block, output-channel block): the largest vector-friendly divisors."""
    lanes = vector_lanes(target, spec.out_dtype)
    candidates = [b for b in (lanes, lanes // 2, lanes // 4, 8, 4, 2, 1) if b >= 1]
    oc_bn = largest_divisor(spec.out_channels, candidates)
    ic_bn = largest_divisor(spec.in_channels, [b for b in candidates if b <= oc_bn] or [1])
    return ic_bn, oc_bn


def pack_input(data: Any, spec: ConvSpec, ic_bn: int) -> Any:
    """Pad and pack NCHW ``data`` into NCHW[ic_bn]c in one pass (``dse_pack``)."""
    from tvm import te, tirx

    pt, pl = spec.pad_top, spec.pad_left
    shape = (
        spec.batch,
        spec.in_channels // ic_bn,
        spec.height + pt + spec.pad_bottom,
        spec.width + pl + spec.pad_right,
        ic_bn,
    )
    zero = tirx.const(0, data.dtype)

    def f(n: Any, cb: Any, y: Any, x: Any, ci: Any) -> Any:
        inside = tirx.all(y >= pt, y < spec.height + pt, x >= pl, x < spec.width + pl)
        return tirx.if_then_else(inside, data[n, cb * ic_bn + ci, y - pt, x - pl], zero)

    return te.compute(shape, f, name="dse_pack")


def packed_read(packed: Any, spec: ConvSpec, ic_bn: int, n: Any, ic: Any, y: Any, x: Any, kh: Any, kw: Any) -> Any:
    """``packed`` at input channel ``ic`` under kernel tap (kh, kw) of output pixel (y, x)."""
    return packed[
        n, ic // ic_bn, y * spec.stride_h + kh * spec.dilation_h, x * spec.stride_w + kw * spec.dilation_w, ic % ic_bn
    ]


def unpack_output(out5: Any, spec: ConvSpec, oc_bn: int) -> Any:
    """NCHW[oc_bn]c -> NCHW (``dse_unpack``; inlined into the epilogue by the schedule)."""
    from tvm import te

    shape = (spec.batch, spec.out_channels, spec.out_h, spec.out_w)
    return te.compute(shape, lambda n, c, y, x: out5[n, c // oc_bn, y, x, c % oc_bn], name="dse_unpack")


def pack_weight(spec: ConvSpec, oc_bn: int) -> Any:
    """OIHW -> ``[OC // oc_bn, I, KH, KW, oc_bn]`` (numpy, done once at compile time)."""
    import numpy as np

    w = spec.require_constant_weight()
    ocb = spec.out_channels // oc_bn
    w5 = w.reshape(ocb, oc_bn, spec.in_per_group, spec.kernel_h, spec.kernel_w)
    return np.ascontiguousarray(w5.transpose(0, 2, 3, 4, 1))
