"""Top-1 accuracy of the compiled module on the device (not of the PyTorch model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dse.core.files import stable_hash

if TYPE_CHECKING:
    from search_spaces.datasets import DataSplits
    from search_spaces.targets.devices import LoadedModule


@dataclass(frozen=True)
class Classification:
    """What a module said of every evaluation image: its top-1 class, in evaluation order."""

    predictions: np.ndarray
    labels: np.ndarray

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean())

    @property
    def digest(self) -> str:
        """A short hash of the predictions: two builds with equal digests classified every image
        alike (an export's check compares it, not just the count of right answers)."""
        return stable_hash(self.predictions.tolist(), length=16)


def classify(module: LoadedModule, data: DataSplits) -> Classification:
    """Run every evaluation image through ``module`` (batch 1, as compiled), keeping each top-1."""
    images = data.eval_x.numpy()
    labels = data.eval_y.numpy()
    predictions = np.empty(len(labels), dtype=np.int64)
    for i in range(len(labels)):
        predictions[i] = int(module.run(images[i : i + 1]).reshape(-1).argmax())
    return Classification(predictions, labels.astype(np.int64))
