"""Structured channel pruning: whole output channels removed, so the network really shrinks.

Uses torch-pruning (VainF, DepGraph): it traces the model, groups every tensor dimension that
must shrink together (the convolution's output channels, the following batch norm, the next
layer's input channels, both sides of a residual addition, a depthwise convolution's groups,
concatenations) and ranks each group by the L2 norm of its weights. The same ``ratio`` of
channels is removed from every prunable group; the classifier's outputs are never touched, so
the output shape stays. The result is an ordinary smaller dense model: dense code gets faster
with no sparse kernel. Models whose graph DepGraph cannot trace (ShuffleNet's channel shuffle,
a reshape across channels) make the trial an invalid combination with the reason.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from dse.core.errors import InvalidCombination, first_line
from search_spaces._base import Param, Params
from search_spaces.compression._base import PRUNING, PruningMethod
from search_spaces.compression._finetune import FINETUNE_EPOCHS, finetune_cached
from search_spaces.compression._size import model_size, prunable_modules, record_model_size

if TYPE_CHECKING:
    import torch
    from torch import nn

    from search_spaces._context import BuildContext

RATIO_RANGE = (0.1, 0.75)
#: Remaining channel counts are kept multiples of this where a layer is wide enough, so
#: vectorized and packed (NCHW[x]c) kernels keep whole vector lanes.
ROUND_TO = 4
#: Registered models whose graph DepGraph fails on (checked: every other registered model prunes and exports).
UNTRACEABLE_MODELS = ("shufflenet_v2_x1_0",)


@PRUNING.register("channel")
class ChannelPruning(PruningMethod):
    description = "structured L2-norm channel pruning with torch-pruning's DepGraph (smaller dense model)"

    params = (
        Param("ratio", low=RATIO_RANGE[0], high=RATIO_RANGE[1], step=0.05),
        Param("finetune_epochs", FINETUNE_EPOCHS),
    )

    def incompatibility(self, config: Any) -> str | None:
        if config.model in UNTRACEABLE_MODELS:
            return f"torch-pruning's DepGraph cannot trace {config.model}'s channel split and shuffle"
        return super().incompatibility(config)

    def apply(self, model: nn.Module, params: Params, ctx: BuildContext) -> nn.Module:
        ratio = float(params["ratio"])
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"pruning.channel.ratio must be in [0, 1), got ratio={ratio}")
        before = model_size(model)["param_count"]
        model = copy.deepcopy(model)
        prune_channels(model, ratio, ctx.example_input, ctx.data.num_classes)
        model = finetune_cached(model, ctx, self.name, params, int(params.get("finetune_epochs", 0)))
        record_model_size(model, ctx.info)
        ctx.info["param_count_unpruned"] = before
        return model


def prune_channels(model: nn.Module, ratio: float, example_input: torch.Tensor, num_classes: int) -> None:
    """Remove ``ratio`` of the output channels of every prunable layer group of ``model`` (in place).

    Raises:
        InvalidCombination: torch-pruning cannot trace this architecture, or the pruned model
            no longer produces the original output shape.
    """
    import torch

    try:
        import torch_pruning as tp
    except ImportError:
        raise InvalidCombination(
            "channel pruning needs the torch-pruning package; install it with `pip install torch-pruning`"
        ) from None

    model.eval()
    with torch.no_grad():
        expected = model(example_input).shape
    try:
        pruner = tp.pruner.MagnitudePruner(
            model,
            example_input,
            importance=tp.importance.MagnitudeImportance(p=2),
            pruning_ratio=ratio,
            ignored_layers=_output_layers(model, num_classes),
            round_to=ROUND_TO,
        )
        pruner.step()
    except Exception as exc:  # DepGraph's tracing fails in many ways on graphs it cannot model
        raise InvalidCombination(
            f"channel pruning cannot trace this model's channel dependencies ({type(exc).__name__}: "
            f"{first_line(exc)}); use pruning=magnitude for it"
        ) from exc
    try:
        with torch.no_grad():
            got = model(example_input).shape
    except Exception as exc:  # a dependency DepGraph missed: shapes no longer fit
        raise InvalidCombination(
            f"channel pruning broke this model's forward pass ({type(exc).__name__}: {first_line(exc)}); "
            "use pruning=magnitude for it"
        ) from exc
    if got != expected:
        raise InvalidCombination(f"channel pruning changed the output shape from {tuple(expected)} to {tuple(got)}")


def _output_layers(model: nn.Module, num_classes: int) -> list[nn.Module]:
    """Layers whose output channels are the class scores: pruning them would change the output."""
    from torch import nn

    outputs = []
    for _, module in prunable_modules(model):
        width = module.out_features if isinstance(module, nn.Linear) else module.out_channels
        if width == num_classes:
            outputs.append(module)
    return outputs
