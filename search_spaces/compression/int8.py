"""int8 post-training quantization, compiled to real int8 arithmetic.

Weights per output channel, symmetric int8 (+-127; +-64 for dense convolutions and linear
layers on a target whose int8 instruction needs it, x86 without VNNI); activations per
tensor, symmetric int8, their ranges calibrated on training images (never the evaluation
split). Convolutions and linear
layers run as int8 x int8 -> int32 ``conv2d`` / ``matmul`` followed by a float rescale; the
rest of the network stays float32 and ``ctx.info['float_ops']`` lists which ops those are
(see ``_quantize`` for the rewrite).

``calibration``: ``max`` takes the largest |x| seen over the calibration images (no
activation ever clips, coarser steps); ``percentile`` takes the mean over images of the
99.99th percentile of |x| (rare outliers clip, finer steps for the bulk).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from dse.core.errors import FailureKind, InvalidCombination, TrialFailure, first_line
from search_spaces._base import Param, Params
from search_spaces.algorithms import int8_weight_peak
from search_spaces.compression._base import PRECISION, PrecisionMethod
from search_spaces.compression._quantize import CALIBRATION_METHODS

if TYPE_CHECKING:
    from torch import nn

    from search_spaces._context import BuildContext

#: Training images the activation ranges are measured on.
CALIBRATION_IMAGES = 64


@PRECISION.register("int8")
class Int8(PrecisionMethod):
    description = "int8 PTQ: per-channel weights, calibrated per-tensor activations, int8xint8->int32 conv/matmul"

    params = (Param("calibration", CALIBRATION_METHODS),)

    def apply(self, mod: Any, model: nn.Module | None, params: Params, ctx: BuildContext) -> Any:
        from search_spaces.compression import _quantize

        method = str(self.value(params, "calibration"))
        mod = _quantize.prepare(mod)
        images = ctx.data.calibration(CALIBRATION_IMAGES)
        start = time.perf_counter()
        try:
            ranges = _quantize.calibrate(mod, images, method, ctx.threads)
        except Exception as exc:  # TVMError from compiling or running the calibration probe
            raise TrialFailure(
                FailureKind.COMPILE, f"int8 calibration failed: {type(exc).__name__}: {first_line(exc)}"
            ) from exc
        ctx.info["calibration_s"] = round(time.perf_counter() - start, 2)
        ctx.info["calibration_images"] = len(images)
        if not ranges:
            raise InvalidCombination(
                "int8 found no convolution or linear layer with constant float32 weights to quantize; "
                "use precision=fp32 for this model",
            )
        # Weights in +-64 where the target's fastest int8 instruction is exact only that far
        # (x86 without VNNI: vpmaddubsw's 16-bit sums), as oneDNN quantizes there; else +-127.
        dense_levels = int8_weight_peak(ctx.tvm_target)
        mod = _quantize.rewrite(mod, ranges, dense_levels)
        ctx.info["int8_weight_levels"] = dense_levels
        summary = _quantize.report(mod)
        ctx.info["int8_ops"] = summary.int8_ops
        ctx.info["float_ops"] = summary.float_ops
        return mod
