"""TVM's own lowering: TOPI's direct convolution, legalized and fused but with no schedule.

This is what ``tvm.compile`` would do by itself; it goes through the shared driver so the
module it returns is all TIR like every other algorithm's (the tuning layer's contract).
Its conv blocks keep TOPI's names (``conv2d_nchw``...), so ``schedules`` gives them only the
generic parallel rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Params
from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm
from search_spaces.algorithms._lowering import default_legalize

if TYPE_CHECKING:
    from search_spaces._context import BuildContext
    from search_spaces.algorithms._conv import ConvSpec


@ALGORITHMS.register("tvm_default")
class TvmDefault(ConvAlgorithm):
    description = "TVM's default legalization (TOPI direct conv)"

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        return default_legalize(bb, call)
