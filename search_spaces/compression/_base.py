"""Base classes and registries of the compression layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dse.core.registry import Registry
from search_spaces._base import Choice, Params

if TYPE_CHECKING:
    from torch import nn

    from search_spaces._context import BuildContext


class PruningMethod(Choice):
    """Rewrites the trained PyTorch model before export."""

    layer: ClassVar[str] = "pruning"

    def apply(self, model: nn.Module, params: Params, ctx: BuildContext) -> nn.Module:
        raise NotImplementedError


class PrecisionMethod(Choice):
    """Rewrites the imported Relax module (called after DecomposeOpsForInference).

    ``model`` is the (pruned) PyTorch model the module came from, for calibration.
    """

    layer: ClassVar[str] = "precision"

    def apply(self, mod: Any, model: nn.Module, params: Params, ctx: BuildContext) -> Any:
        raise NotImplementedError


PRUNING: Registry[PruningMethod] = Registry("pruning method")
PRECISION: Registry[PrecisionMethod] = Registry("precision")
