"""Top-1 accuracy of the compiled module on the device (not of the PyTorch model)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from search_spaces.datasets import DataSplits
    from search_spaces.targets.devices import LoadedModule


def top1_accuracy(module: LoadedModule, data: DataSplits) -> float:
    """Run every evaluation image through ``module`` (batch 1, as compiled) and score top-1."""
    images = data.eval_x.numpy()
    labels = data.eval_y.numpy()
    correct = 0
    for i in range(len(labels)):
        logits = module.run(images[i : i + 1])
        correct += int(logits.reshape(-1).argmax() == labels[i])
    return correct / len(labels)
