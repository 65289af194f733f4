"""The uncompressed baseline: no pruning, float32."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces.compression._base import PRECISION, PRUNING, PrecisionMethod, PruningMethod
from search_spaces.compression._size import record_model_size

if TYPE_CHECKING:
    from torch import nn

    from search_spaces._context import BuildContext


@PRUNING.register("none")
class NoPruning(PruningMethod):
    rewrites_module = False
    description = "dense weights as trained"

    def apply(self, model: nn.Module, params: Params, ctx: BuildContext) -> nn.Module:
        record_model_size(model, ctx.info)  # every trial records its model size, the baseline too
        return model


@PRECISION.register("fp32")
class Float32(PrecisionMethod):
    description = "float32 throughout"

    def apply(self, mod: Any, model: nn.Module | None, params: Params, ctx: BuildContext) -> Any:
        return mod
