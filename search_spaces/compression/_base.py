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
    #: Whether it needs a PyTorch module to rewrite (an ONNX model has none).
    rewrites_module: ClassVar[bool] = True

    def incompatibility(self, config: Any) -> str | None:
        from search_spaces.models import NO_PYTORCH_MODULE, is_onnx_model

        if self.rewrites_module and is_onnx_model(config.model):
            return NO_PYTORCH_MODULE
        return None

    def apply(self, model: nn.Module, params: Params, ctx: BuildContext) -> nn.Module:
        raise NotImplementedError


class PrecisionMethod(Choice):
    """Rewrites the imported Relax module (called after DecomposeOpsForInference).

    ``model`` is the (pruned) PyTorch model the module came from, for calibration; None for an
    ONNX model, which has none.
    """

    layer: ClassVar[str] = "precision"

    def apply(self, mod: Any, model: nn.Module | None, params: Params, ctx: BuildContext) -> Any:
        raise NotImplementedError


PRUNING: Registry[PruningMethod] = Registry("pruning method")
PRECISION: Registry[PrecisionMethod] = Registry("precision")
