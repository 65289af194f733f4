"""Winograd F(m x m, 3 x 3): fewer multiplications for 3x3 stride-1 convolutions.

Tiles of ``(m+2)^2`` input pixels are transformed (``V = B^T d B``), multiplied with the
pre-transformed weights (``U = G g G^T``, computed in numpy at compile time) as
``(m+2)^2`` batched GEMMs over channels, and transformed back (``Y = A^T M A``). Only
3x3, stride 1, dilation 1, ungrouped, float layers qualify; every other layer falls back to
the algorithm named by the ``fallback`` parameter (recorded per layer). The transform
matrices come from ``tvm.topi.nn.winograd_util`` (``topi``'s weight-transform op fails in 0.27).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from search_spaces._base import Param, Params
from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm
from search_spaces.algorithms._conv import ConvSpec, NotApplicable, UnsupportedDtype, te_pad
from search_spaces.algorithms.spatial_pack import flow_packed_layout

if TYPE_CHECKING:
    from search_spaces._context import BuildContext

TILES = (2, 4)
FALLBACKS = ("spatial_pack", "im2col_gemm", "direct")


def transform_matrices(m: int) -> tuple[Any, Any, Any]:
    """Numpy (A, B, G) of F(m, 3)."""
    from tvm.topi.nn.winograd_util import _cook_toom_convolution, _interpolation_points

    return _cook_toom_convolution(_interpolation_points(m + 1), m, 3)


def transform_weight(spec: ConvSpec, m: int) -> Any:
    """``U[eps, nu, ic, oc] = (G g G^T)``: the constant weight of the batched GEMM, output
    channels innermost so that the GEMM's vector of output channels is one contiguous load."""
    import numpy as np

    w = spec.require_constant_weight().astype(np.float64)
    _, _, g = transform_matrices(m)
    u = np.einsum("ak,oikl,bl->abio", g, w, g)
    return np.ascontiguousarray(u.astype(spec.weight_dtype))


def winograd_compute(data: Any, u: Any, spec: ConvSpec, m: int) -> Any:
    """Winograd conv, NCHW or packed NCHW[x]c on each side as ``spec`` says (spatial pack's
    layout flow); block names ``dse_winograd_{tile,data[_packed],gemm,inverse,out}``.

    The two transforms are written as explicit sums over the tile (no reduction axes), each term's
    coefficient a select over the output position among that row's nonzero matrix entries: once
    the schedule unrolls the positions, TVM folds every coefficient to a constant. (With
    reduction axes over ``const_matrix``, a 36-deep select per factor, folding F(4)'s unrolled
    transforms took 9 of a ResNet-18 build's 12 seconds of TIR passes.)"""
    from tvm import te

    a_np, b_np, _ = transform_matrices(m)
    dt = spec.out_dtype
    alpha = m + 2
    nh, nw = -(-spec.out_h // m), -(-spec.out_w // m)
    tiles = spec.batch * nh * nw

    def transformed(matrix: Any, at: Callable[[int, int], Any], x: Any, y: Any) -> Any:
        """Position (x, y) of ``matrix^T tile matrix``: sum over the tile's (a, b) of
        matrix[a, x] * matrix[b, y] * at(a, b), rows of zeros left out."""
        terms = [
            _coefficient(matrix, a, x, dt) * _coefficient(matrix, b, y, dt) * at(a, b)
            for a in range(matrix.shape[0])
            for b in range(matrix.shape[0])
            if matrix[a].any() and matrix[b].any()
        ]
        return functools.reduce(operator.add, terms)

    if spec.in_block:
        # Packed input: the transform reads a vector of input channels, contiguous in NCHW[x]c,
        # and writes V[eps, nu, tile, c] (channels innermost) with no gather
        d = _packed_tiles(data, spec, m, nh, nw, dt)
        v = te.compute(
            (alpha, alpha, tiles, spec.in_channels),
            lambda e, f, p, c: transformed(b_np, lambda a, b: d[c, p, a, b], e, f),
            name="dse_winograd_data_packed",
        )
        v_at = lambda e, f, c, p: v[e, f, p, c]  # noqa: E731
    else:
        extra_b = nh * m + 2 - (spec.height + spec.pad_top + spec.pad_bottom)
        extra_r = nw * m + 2 - (spec.width + spec.pad_left + spec.pad_right)
        pad = te_pad(data, spec, max(0, extra_b), max(0, extra_r))
        d = te.compute(
            (spec.in_channels, tiles, alpha, alpha),
            lambda c, p, i, j: pad[p // (nh * nw), c, (p // nw) % nh * m + i, p % nw * m + j].astype(dt),
            name="dse_winograd_tile",
        )
        v = te.compute(
            (alpha, alpha, spec.in_channels, tiles),
            lambda e, f, c, p: transformed(b_np, lambda a, b: d[c, p, a, b], e, f),
            name="dse_winograd_data",
        )
        v_at = lambda e, f, c, p: v[e, f, c, p]  # noqa: E731
    # Output channels innermost from the GEMM on: the vector axis of the GEMM and the inverse
    # transform, always a multiple of the lanes in a CNN, where the tiles are not (196 tiles at
    # 56x56 with F(2): vectors of 14 lanes; 4 at 7x7)
    rc = te.reduce_axis((0, spec.in_channels), "rc")
    mm = te.compute(
        (alpha, alpha, tiles, spec.out_channels),
        lambda e, f, p, oc: te.sum(v_at(e, f, rc, p) * u[e, f, rc, oc].astype(dt), axis=rc),
        name="dse_winograd_gemm",
    )
    inverse = te.compute(
        (tiles, m, m, spec.out_channels),
        lambda p, i, j, oc: transformed(a_np, lambda a, b: mm[a, b, p, oc], i, j),
        name="dse_winograd_inverse",
    )

    def tile_of(n: Any, h: Any, w: Any) -> Any:
        return n * nh * nw + (h // m) * nw + w // m

    if spec.out_block:
        bo = spec.out_block
        return te.compute(
            (spec.batch, spec.out_channels // bo, spec.out_h, spec.out_w, bo),
            lambda n, ob, h, w, oi: inverse[tile_of(n, h, w), h % m, w % m, ob * bo + oi],
            name="dse_winograd_out",
        )
    return te.compute(
        (spec.batch, spec.out_channels, spec.out_h, spec.out_w),
        lambda n, oc, h, w: inverse[tile_of(n, h, w), h % m, w % m, oc],
        name="dse_winograd_out",
    )


def _coefficient(matrix: Any, row: int, col: Any, dtype: str) -> Any:
    """``matrix[row, col]`` for a loop variable ``col``: a select over the row's nonzero entries."""
    from tvm import tirx

    value = tirx.const(0, dtype)
    for k in reversed(range(matrix.shape[1])):
        if matrix[row, k] != 0:
            value = tirx.Select(col == k, tirx.const(float(matrix[row, k]), dtype), value)
    return value


def _packed_tiles(data: Any, spec: ConvSpec, m: int, nh: int, nw: int, dtype: str) -> Any:
    """The input tiles ``d[c, tile, i, j]`` of a packed ``[N, C / x, H, W, x]`` input, zero outside
    it (the padding, and the last tiles' overhang), read in place."""
    from tvm import te, tirx

    block, alpha = spec.in_block, m + 2

    def f(c: Any, p: Any, i: Any, j: Any) -> Any:
        y = (p // nw) % nh * m + i - spec.pad_top
        x = p % nw * m + j - spec.pad_left
        inside = tirx.all(y >= 0, y < spec.height, x >= 0, x < spec.width)
        value = data[p // (nh * nw), c // block, y, x, c % block].astype(dtype)
        return tirx.if_then_else(inside, value, tirx.const(0, dtype))

    return te.compute((spec.in_channels, spec.batch * nh * nw, alpha, alpha), f, name="dse_winograd_tile")


def check_winograd(spec: ConvSpec) -> None:
    """Raise NotApplicable unless the layer is a float 3x3 stride-1 dilation-1 ungrouped NCHW (or
    packed NCHW[x]c) conv."""
    if not spec.is_float:
        raise UnsupportedDtype(f"Winograd needs a float dtype, layer is {spec.in_dtype}")
    shape = (spec.kernel_h, spec.kernel_w, spec.stride_h, spec.stride_w, spec.dilation_h, spec.dilation_w)
    if shape != (3, 3, 1, 1, 1, 1) or spec.groups != 1 or not (spec.data_layout == "NCHW" or spec.blocked):
        raise NotApplicable("Winograd takes only 3x3 stride-1 dilation-1 ungrouped NCHW or NCHW[x]c convs")


def emit_winograd(bb: Any, call: Any, spec: ConvSpec, m: int) -> Any:
    from tvm import relax

    check_winograd(spec)
    u = relax.const(transform_weight(spec, m))
    return bb.call_te(lambda d, k: winograd_compute(d, k, spec, m), call.args[0], u, primfunc_name_hint="dse_winograd")


@ALGORITHMS.register("winograd")
class Winograd(ConvAlgorithm):
    description = "Winograd F(m,3) for 3x3 stride-1 convs; other layers use the fallback algorithm"

    params = (Param("tile", TILES), Param("fallback", FALLBACKS))

    def incompatibility(self, config: Any) -> str | None:
        if "int8" in str(config.precision.name):
            return "Winograd's transforms need float arithmetic; int8 convolutions cannot use it"
        return None

    def prepare(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        # With spatial pack beside it, the model keeps spatial pack's packed layout between
        # layers, Winograd's included: without it every layer converted NCHW <-> NCHW[x]c
        if self.fallback(params) == "spatial_pack":
            return flow_packed_layout(mod, ctx.tvm_target)
        return mod

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        return emit_winograd(bb, call, spec, int(params.get("tile", 4)))

    def fallback(self, params: Params) -> str | None:
        return str(params.get("fallback", "spatial_pack"))
