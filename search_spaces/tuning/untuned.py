"""No auto-scheduling: kernels keep the schedules the algorithm layer gave them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces.tuning._base import TUNING, TuningMode

if TYPE_CHECKING:
    from search_spaces._context import BuildContext


@TUNING.register("untuned")
class Untuned(TuningMode):
    description = "default schedules, no tuning"

    def schedule(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        from search_spaces.algorithms.schedules import apply_default_schedules

        return apply_default_schedules(mod, ctx.tvm_target)
