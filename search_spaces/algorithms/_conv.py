"""What every convolution kernel needs to know about one ``relax.nn.conv2d`` call.

:class:`ConvSpec` reads the call once (shapes, strides, padding, dilation, groups, layouts,
dtypes, and the weight as a numpy array when it is a compile-time constant), so the kernels
below work on plain integers and an ``OIHW`` weight whatever the call's kernel layout was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class NotApplicable(Exception):
    """A kernel cannot handle this layer; the message is recorded as the fallback reason."""


class UnsupportedDtype(NotApplicable):
    """A kernel cannot compute in this layer's dtype (e.g. Winograd on int8)."""


@dataclass(frozen=True)
class ConvSpec:
    """One 2-D convolution, layout-independent (``weight`` always in OIHW)."""

    batch: int
    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    pad_bottom: int
    pad_right: int
    dilation_h: int
    dilation_w: int
    groups: int
    data_layout: str
    in_dtype: str
    weight_dtype: str
    out_dtype: str
    weight: Any = None  # numpy OIHW array, or None when the weight is not a constant
    # Channel blocks of a call in the packed NCHW[x]c layout (spatial pack's layout flow,
    # ``spatial_pack._flow_layouts``): the input's and the output's x, 0 where that side is NCHW.
    in_block: int = 0
    out_block: int = 0

    @property
    def blocked(self) -> bool:
        """Whether a side of the call is in the packed NCHW[x]c layout (only spatial pack takes it)."""
        return bool(self.in_block or self.out_block)

    @property
    def in_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_per_group(self) -> int:
        return self.out_channels // self.groups

    @property
    def out_h(self) -> int:
        span = self.dilation_h * (self.kernel_h - 1) + 1
        return (self.height + self.pad_top + self.pad_bottom - span) // self.stride_h + 1

    @property
    def out_w(self) -> int:
        span = self.dilation_w * (self.kernel_w - 1) + 1
        return (self.width + self.pad_left + self.pad_right - span) // self.stride_w + 1

    @property
    def reduce_size(self) -> int:
        """Length of one output channel's dot product (the GEMM K)."""
        return self.in_per_group * self.kernel_h * self.kernel_w

    @property
    def flops(self) -> int:
        """Multiply-adds x 2 of the dense computation (what the layer costs whatever the algorithm)."""
        return 2 * self.batch * self.out_channels * self.out_h * self.out_w * self.reduce_size

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels

    @property
    def is_float(self) -> bool:
        return self.in_dtype.startswith(("float", "bfloat"))

    def describe(self) -> str:
        """``3x32x32->64 k3x3 s1 p1 d1 g1 float32``: compact, for the per-layer record."""
        return (
            f"{self.in_channels}x{self.height}x{self.width}->{self.out_channels} "
            f"k{self.kernel_h}x{self.kernel_w} s{self.stride_h} p{self.pad_top} "
            f"d{self.dilation_h} g{self.groups} {self.in_dtype}"
        )

    def sparsity(self) -> float:
        """Fraction of exact zeros in the weight (0 when the weight is not a constant)."""
        if self.weight is None or self.weight.size == 0:
            return 0.0
        return float((self.weight == 0).sum()) / float(self.weight.size)

    def require_constant_weight(self) -> Any:
        if self.weight is None:
            raise NotApplicable("weight is not a compile-time constant")
        return self.weight


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def layout_axes(layout: str) -> list[tuple[str, int]]:
    """``NCHW8c`` -> ``[("N", 0), ("C", 0), ("H", 0), ("W", 0), ("c", 8)]``: each axis of a TVM
    layout string with its block factor (0 for a primal axis, written in capitals)."""
    axes: list[tuple[str, int]] = []
    digits = ""
    for char in layout:
        if char.isdigit():
            digits += char
        else:
            axes.append((char, int(digits) if digits else 0))
            digits = ""
    return axes


def _channel_block(layout: str) -> int:
    """The x of a packed ``NCHW[x]c`` layout; 0 for any other layout."""
    axes = layout_axes(layout)
    return axes[-1][1] if [axis for axis, _ in axes] == list("NCHWc") else 0


def _logical_dims(layout: str, shape: list[int]) -> dict[str, int]:
    """Each primal axis's full extent: its outer extent times its block's, if it has one."""
    axes = layout_axes(layout)
    if len(axes) != len(shape):
        raise NotApplicable(f"layout {layout} does not match shape {shape}")
    sizes = {axis: extent for (axis, _), extent in zip(axes, shape, strict=True)}
    return {axis: extent * sizes.get(axis.lower(), 1) for axis, extent in sizes.items() if axis.isupper()}


def _weight_oihw(weight: Any, layout: str) -> Any:
    """A constant weight in ``layout`` (OIHW, a permutation of it, or blocked: ``OIHW8i16o``) as OIHW."""
    axes = [axis for axis, _ in layout_axes(layout)]
    array = weight
    for inner in "oihw":  # a missing block is a block of 1
        if inner not in axes:
            array = array[..., None]
            axes.append(inner)
    array = array.transpose([axes.index(a) for a in "OoIiHhWw"])
    o, oi, i, ii, h, hi, w, wi = array.shape
    return array.reshape(o * oi, i * ii, h * hi, w * wi)


def spec_from_call(call: Any) -> ConvSpec:
    """Read a ``relax.nn.conv2d`` call; raise :class:`NotApplicable` for what kernels cannot take."""
    import tvm

    attrs = call.attrs
    data, weight = call.args[0], call.args[1]
    data_layout, kernel_layout = str(attrs.data_layout), str(attrs.kernel_layout)
    out_layout = str(attrs.out_layout)
    in_block, out_block = _channel_block(data_layout), _channel_block(out_layout)
    if in_block or out_block:
        if not all(block or layout == "NCHW" for layout, block in ((data_layout, in_block), (out_layout, out_block))):
            raise NotApplicable(f"layout {data_layout}->{out_layout} mixes a blocked layout with another one")
    elif data_layout not in ("NCHW", "NHWC") or out_layout != data_layout:
        raise NotApplicable(f"layout {data_layout}->{out_layout} is not NCHW or NHWC")
    if "".join(sorted(axis for axis, _ in layout_axes(kernel_layout) if axis.isupper())) != "HIOW":
        raise NotApplicable(f"kernel layout {kernel_layout} is not a permutation of OIHW")
    try:
        dshape = _ints(data.ty.shape.values)
        wshape = _ints(weight.ty.shape.values)
    except (AttributeError, TypeError) as exc:
        raise NotApplicable(f"dynamic shape ({exc})") from None
    dims, wdims = _logical_dims(data_layout, dshape), _logical_dims(kernel_layout, wshape)
    w_np = None
    if isinstance(weight, tvm.ir.expr.Constant):
        w_np = _weight_oihw(weight.value.numpy(), kernel_layout)
    in_dtype = str(data.ty.dtype)
    out_dtype = str(attrs.out_dtype)
    if out_dtype in ("", "void", "None"):
        out_dtype = in_dtype
    pads = _ints(attrs.padding)
    if len(pads) == 2:
        pads = pads + pads
    return ConvSpec(
        batch=dims["N"],
        in_channels=dims["C"],
        height=dims["H"],
        width=dims["W"],
        out_channels=wdims["O"],
        kernel_h=wdims["H"],
        kernel_w=wdims["W"],
        stride_h=int(attrs.strides[0]),
        stride_w=int(attrs.strides[1]),
        pad_top=pads[0],
        pad_left=pads[1],
        pad_bottom=pads[2],
        pad_right=pads[3],
        dilation_h=int(attrs.dilation[0]),
        dilation_w=int(attrs.dilation[1]),
        groups=int(attrs.groups),
        data_layout=data_layout,
        in_dtype=in_dtype,
        weight_dtype=str(weight.ty.dtype),
        out_dtype=out_dtype,
        weight=w_np,
        in_block=in_block,
        out_block=out_block,
    )


def vector_bits(target: Any) -> int:
    """Width of the widest SIMD register ``target`` has, from LLVM's features for its
    mcpu/mattr (AVX-512: 512, AVX/AVX2: 256, SSE or Arm NEON: 128); 256 when unknown."""
    if target is None or not hasattr(target, "attrs"):
        return 256
    triple = str(target.attrs.get("mtriple", ""))
    mattr = " ".join(str(a) for a in target.attrs.get("mattr", []))
    if "aarch64" in triple or "arm" in triple or "neon" in mattr:
        return 128
    if str(target.kind.name) != "llvm":
        return 256
    from tvm.target import codegen

    for feature, bits in (("avx512f", 512), ("avx", 256)):
        if codegen.llvm_cpu_has_features(feature, target):
            return bits
    return 128


def vector_registers(target: Any) -> int:
    """Vector registers ``target``'s code may use: 32 with AVX-512 (zmm0-31, and ymm0-31 with it)
    and on aarch64 (v0-v31), 16 on AVX/AVX2 and SSE. Register tiles hold half as many accumulators."""
    aarch64 = target is not None and hasattr(target, "attrs") and "aarch64" in str(target.attrs.get("mtriple", ""))
    return 32 if aarch64 or vector_bits(target) == 512 else 16


def vector_lanes(target: Any, dtype: str = "float32") -> int:
    """Lanes of one SIMD register for ``dtype`` on ``target`` (:func:`vector_bits` / element bits)."""
    elem_bits = int("".join(ch for ch in dtype if ch.isdigit()) or 32)
    return max(1, vector_bits(target) // elem_bits)


def largest_divisor(n: int, candidates: tuple[int, ...] | list[int]) -> int:
    """The first of ``candidates`` (largest first) that divides ``n``; 1 if none does."""
    for c in candidates:
        if c >= 1 and n % c == 0:
            return c
    return 1


def te_pad(data: Any, spec: ConvSpec, extra_bottom: int = 0, extra_right: int = 0) -> Any:
    """Zero-pad the spatial dims of an NCHW or NHWC TE tensor (a ``dse_pad`` compute)."""
    from tvm import te, tirx

    pt, pl = spec.pad_top, spec.pad_left
    pb, pr = spec.pad_bottom + extra_bottom, spec.pad_right + extra_right
    if pt == pl == pb == pr == 0:
        return data
    h_axis, w_axis = (2, 3) if spec.data_layout == "NCHW" else (1, 2)
    shape = list(data.shape)
    shape[h_axis] = spec.height + pt + pb
    shape[w_axis] = spec.width + pl + pr
    zero = tirx.const(0, data.dtype)

    def fcompute(*idx: Any) -> Any:
        y, x = idx[h_axis], idx[w_axis]
        src = list(idx)
        src[h_axis], src[w_axis] = y - pt, x - pl
        inside = tirx.all(y >= pt, y < spec.height + pt, x >= pl, x < spec.width + pl)
        return tirx.if_then_else(inside, data[tuple(src)], zero)

    return te.compute(shape, fcompute, name="dse_pad")
