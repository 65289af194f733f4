"""Model size and sparsity bookkeeping shared by the pruning methods.

Every pruning method (the uncompressed ``none`` included) records the same keys in
``ctx.info``, so every trial carries its model size whatever technique it used:

- ``param_count``: parameters of the model that is exported (after channel pruning, fewer);
- ``nonzero_params``: those that are not exactly zero (after magnitude pruning, fewer);
- ``prunable_params``: weights of convolutions and linear layers, the set pruning acts on;
- ``achieved_sparsity``: the fraction of exact zeros among the prunable weights.

The compiled artifact's bytes are recorded by the pipeline itself (``artifact_bytes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


def prunable_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The convolutions and linear layers of ``model`` (the weights pruning acts on), by name."""
    from torch import nn

    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
    return [(name, module) for name, module in model.named_modules() if isinstance(module, kinds)]


def model_size(model: nn.Module) -> dict[str, Any]:
    """Parameter counts and achieved sparsity of ``model`` (JSON-able, see the module docstring)."""
    import torch

    with torch.no_grad():
        param_count = sum(p.numel() for p in model.parameters())
        nonzero = sum(int(torch.count_nonzero(p)) for p in model.parameters())
        weights: list[torch.Tensor] = [module.weight for _, module in prunable_modules(model)]  # type: ignore[misc]
        prunable = sum(w.numel() for w in weights)
        prunable_zeros = sum(w.numel() - int(torch.count_nonzero(w)) for w in weights)
    return {
        "param_count": int(param_count),
        "nonzero_params": int(nonzero),
        "prunable_params": int(prunable),
        "achieved_sparsity": round(prunable_zeros / prunable, 6) if prunable else 0.0,
    }


def record_model_size(model: nn.Module, info: dict[str, Any]) -> None:
    """Put :func:`model_size` of ``model`` into a trial's ``info``."""
    info.update(model_size(model))
