"""im2col: unfold the (padded) input into the GEMM operand, for NCHW and NHWC.

NCHW: ``col[n, g, k, p]`` with ``k = (ic, kh, kw)`` and ``p = (oh, ow)``, so a weight row
``W[oc, k]`` times ``col`` gives output channel ``oc`` over all pixels (vectorized over pixels).
NHWC: ``col[n, g, p, k]`` with ``k = (kh, kw, ic)``, times ``W[k, oc]`` (vectorized over
output channels). A 1x1, stride-1, unpadded conv needs no copy: its ``col`` is a view
(named ``dse_im2col_view`` so the schedule inlines it).
"""

from __future__ import annotations

from typing import Any

from search_spaces.algorithms._conv import ConvSpec, te_pad


def is_pointwise(spec: ConvSpec) -> bool:
    """A 1x1 stride-1 unpadded conv: im2col is the identity, the conv is a plain GEMM."""
    return (spec.kernel_h, spec.kernel_w, spec.stride_h, spec.stride_w) == (1, 1, 1, 1) and not any(
        (spec.pad_top, spec.pad_left, spec.pad_bottom, spec.pad_right)
    )


def im2col(data: Any, spec: ConvSpec) -> Any:
    """The unfolded input of ``spec`` (see the module docstring for the index order)."""
    from tvm import te

    pad = te_pad(data, spec)
    kh_, kw_, icg, ow = spec.kernel_h, spec.kernel_w, spec.in_per_group, spec.out_w
    sh, sw, dh, dw = spec.stride_h, spec.stride_w, spec.dilation_h, spec.dilation_w
    npix = spec.out_h * spec.out_w
    name = "dse_im2col_view" if is_pointwise(spec) else "dse_im2col"
    if spec.data_layout == "NCHW":

        def nchw(n: Any, g: Any, k: Any, p: Any) -> Any:
            ic, r = g * icg + k // (kh_ * kw_), k % (kh_ * kw_)
            return pad[n, ic, (p // ow) * sh + (r // kw_) * dh, (p % ow) * sw + (r % kw_) * dw]

        return te.compute((spec.batch, spec.groups, spec.reduce_size, npix), nchw, name=name)

    def nhwc(n: Any, g: Any, p: Any, k: Any) -> Any:
        r, ic = k // icg, g * icg + k % icg
        return pad[n, (p // ow) * sh + (r // kw_) * dh, (p % ow) * sw + (r % kw_) * dw, ic]

    return te.compute((spec.batch, spec.groups, npix, spec.reduce_size), nhwc, name=name)


def gemm_weight(spec: ConvSpec) -> Any:
    """The constant GEMM weight: ``[OC, K]`` for NCHW, ``[K, OC]`` for NHWC (k order as in col)."""
    import numpy as np

    w = spec.require_constant_weight()
    if spec.data_layout == "NCHW":
        return np.ascontiguousarray(w.reshape(spec.out_channels, spec.reduce_size))
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(spec.reduce_size, spec.out_channels))
