"""float16: convolutions and matmuls on half-precision data and weights (TVM's ToMixedPrecision).

``relax.transform.ToMixedPrecision`` casts the inputs of conv2d / matmul (and the ops between
them that are safe in half precision) to float16; reductions such as global average pooling
and the function's inputs and outputs stay float32. Constant folding then stores the weights
in float16, which halves their bytes in the compiled artifact.

``accumulate`` is the accumulator type of conv2d / matmul: ``float32`` (mixed precision:
float16 storage and multiplies, float32 sums; close to fp32 accuracy) or ``float16`` (half
precision throughout; fastest where the hardware has float16 arithmetic, e.g. Arm v8.2+ and
GPUs, and slow on x86 CPUs without it, where every operation converts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Param, Params
from search_spaces._rewrites import clip_as_min_max
from search_spaces.compression._base import PRECISION, PrecisionMethod

if TYPE_CHECKING:
    from torch import nn

    from search_spaces._context import BuildContext

ACCUMULATE = ("float32", "float16")


@PRECISION.register("fp16")
class Float16(PrecisionMethod):
    description = "float16 data and weights in conv/matmul (ToMixedPrecision), float32 or float16 accumulation"

    params = (Param("accumulate", ACCUMULATE),)

    def apply(self, mod: Any, model: nn.Module | None, params: Params, ctx: BuildContext) -> Any:
        from tvm import relax

        accumulate = str(self.value(params, "accumulate"))
        mod = clip_as_min_max(mod)
        mod = relax.transform.ToMixedPrecision(out_dtype=accumulate)(mod)
        mod = relax.transform.FoldConstant()(mod)  # weights become float16 constants, cast once
        ctx.info["float32_ops"] = _ops_of_dtype(mod, "float32")
        return mod


def _ops_of_dtype(mod: Any, dtype: str) -> list[str]:
    """The kinds of op in ``mod``'s main whose result has ``dtype`` (what stays in float32)."""
    import tvm

    names: set[str] = set()
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            call = binding.value
            if not isinstance(call, tvm.ir.Call) or not hasattr(call.op, "name") or call.op.name == "relax.astype":
                continue
            if str(getattr(binding.var.ty, "dtype", "")) == dtype:
                names.add(call.op.name.removeprefix("relax."))
    return sorted(names)
