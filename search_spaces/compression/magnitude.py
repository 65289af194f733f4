"""Unstructured magnitude pruning (torch.nn.utils.prune), global or per layer.

The smallest-magnitude weights of every convolution and linear layer are set to zero:
either the ``sparsity`` fraction of all those weights ranked together (``global``: layers
with small weights lose more) or that fraction of each layer (``layer``). Masks stay on
during the optional recovery fine-tune, so pruned weights stay zero while the others adapt;
then ``prune.remove`` bakes the zeros into plain weight tensors, which survive export as
exact zeros in the Relax constants for the sparse algorithms of layer 4 to exploit.
Dense code does not get faster from this alone: the tensors keep their shapes.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from search_spaces._base import Param, Params
from search_spaces.compression._base import PRUNING, PruningMethod
from search_spaces.compression._finetune import FINETUNE_EPOCHS, finetune_cached
from search_spaces.compression._size import prunable_modules, record_model_size

if TYPE_CHECKING:
    from torch import nn

    from search_spaces._context import BuildContext

SCOPES = ("global", "layer")
SPARSITY_RANGE = (0.5, 0.95)


@PRUNING.register("magnitude")
class MagnitudePruning(PruningMethod):
    description = "unstructured L1-magnitude pruning of conv/linear weights (zeros kept through export)"

    params = (
        Param("sparsity", low=SPARSITY_RANGE[0], high=SPARSITY_RANGE[1], step=0.05),
        Param("scope", SCOPES),
        Param("finetune_epochs", FINETUNE_EPOCHS),
    )

    def apply(self, model: nn.Module, params: Params, ctx: BuildContext) -> nn.Module:
        sparsity = float(params["sparsity"])
        scope = str(params.get("scope", "global"))
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"pruning.magnitude.sparsity must be in [0, 1), got sparsity={sparsity}")
        if scope not in SCOPES:
            raise ValueError(f"pruning.magnitude.scope must be one of {SCOPES}, got scope={scope!r}")
        model = copy.deepcopy(model)
        prune_by_magnitude(model, sparsity, scope)
        model = finetune_cached(
            model, ctx, self.name, params, int(params.get("finetune_epochs", 0)), finalize=remove_masks
        )
        record_model_size(model, ctx.info)
        return model


def prune_by_magnitude(model: nn.Module, sparsity: float, scope: str) -> None:
    """Attach L1 masks that zero ``sparsity`` of the conv/linear weights of ``model`` (in place)."""
    from torch.nn.utils import prune

    targets = [(module, "weight") for _, module in prunable_modules(model)]
    if not targets:
        raise ValueError("magnitude pruning found no Conv or Linear layer to prune in this model")
    if scope == "global":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=sparsity)
    else:
        for module, name in targets:
            prune.l1_unstructured(module, name, amount=sparsity)


def remove_masks(model: nn.Module) -> None:
    """Bake the masks into plain weights (``weight = weight_orig * mask``) and drop the hooks."""
    from torch.nn.utils import prune

    for _, module in prunable_modules(model):
        if prune.is_pruned(module):
            prune.remove(module, "weight")
