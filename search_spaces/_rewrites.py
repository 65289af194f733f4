"""Whole-module Relax rewrites that more than one layer needs before its own passes."""

from __future__ import annotations

from typing import Any


def clip_as_min_max(mod: Any) -> Any:
    """``clip(x, lo, hi)`` as ``minimum(maximum(x, lo), hi)`` with tensor bounds.

    Relax passes know the binary ops but not clip's scalar bounds: ToMixedPrecision expects
    every argument of an op it casts to be a tensor ("Expected TensorType, but got T.int64"),
    and ConvertLayout keeps clip in NCHW, so a blocked layout (spatial pack's) would be undone
    around every ReLU6. Hard-swish, hard-sigmoid and ReLU6 (MobileNetV2/V3, EfficientNet-lite)
    are clips once imported.
    """
    import math

    from tvm import relax
    from tvm.relax.dpl import is_op, rewrite_call, wildcard

    data, low, high = wildcard(), wildcard(), wildcard()
    pattern = is_op("relax.clip")(data, low, high)

    def bound(expr: Any) -> float:
        value = expr.value  # a PrimValue holding an IntImm or FloatImm (or a plain number)
        return float(value.value if hasattr(value, "value") else value)

    def rewrite(clip: Any, matches: Any) -> Any:
        dtype = clip.ty.dtype
        out, lo, hi = matches[data], bound(matches[low]), bound(matches[high])
        if math.isfinite(lo):
            out = relax.op.maximum(out, relax.const(lo, dtype))
        if math.isfinite(hi):
            out = relax.op.minimum(out, relax.const(hi, dtype))
        return out

    for var, func in list(mod.functions.items()):
        if isinstance(func, relax.Function):
            mod[var] = rewrite_call(pattern, rewrite, func)
    return mod


def qdq_as_elementwise(mod: Any) -> Any:
    """Per-tensor ``quantize`` and per-channel ``dequantize`` of 4-D tensors as the elementwise
    ops they legalize to (``clip(round(x / s), int8)``; ``float(x) * s[c]``), so ConvertLayout can
    carry a blocked layout through them: a per-channel scale has no single axis once channels
    are split into blocks, while a ``[1, C, 1, 1]`` multiplier is a broadcast like a bias."""
    import numpy as np
    from tvm import relax
    from tvm.relax.dpl import is_const, is_op, rewrite_call, wildcard

    data, scale, zero = wildcard(), is_const(), is_const()
    quantize = is_op("relax.quantize")(data, scale, zero)
    dequantize = is_op("relax.dequantize")(data, scale, zero)

    def four_d(expr: Any) -> bool:
        return len(expr.ty.shape.values) == 4 if hasattr(expr.ty, "shape") and expr.ty.shape is not None else False

    def rewrite_quantize(call: Any, matches: Any) -> Any:
        s, z = matches[scale].value.numpy(), matches[zero].value.numpy()
        dtype = str(call.attrs.out_dtype)
        if (
            not four_d(call)
            or s.size != 1
            or np.any(z != 0)
            or dtype != "int8"
            or str(call.args[0].ty.dtype) != "float32"
        ):
            return call
        x = relax.op.round(relax.op.divide(matches[data], relax.const(float(s.reshape(())), "float32")))
        x = relax.op.maximum(relax.op.minimum(x, relax.const(127.0, "float32")), relax.const(-128.0, "float32"))
        return relax.op.astype(x, "int8")

    def rewrite_dequantize(call: Any, matches: Any) -> Any:
        s, z = matches[scale].value.numpy(), matches[zero].value.numpy()
        if not four_d(call) or int(call.attrs.axis) != 1 or np.any(z != 0) or str(call.attrs.out_dtype) != "float32":
            return call
        if str(call.args[0].ty.dtype) != "int32":
            return call
        channels = int(call.ty.shape.values[1])
        per_channel = np.broadcast_to(s.astype("float32").reshape(-1), (channels,)).reshape(1, channels, 1, 1)
        return relax.op.multiply(
            relax.op.astype(matches[data], "float32"), relax.const(np.ascontiguousarray(per_channel))
        )

    for var, func in list(mod.functions.items()):
        if isinstance(func, relax.Function):
            func = rewrite_call(quantize, rewrite_quantize, func)
            mod[var] = rewrite_call(dequantize, rewrite_dequantize, func)
    return mod
