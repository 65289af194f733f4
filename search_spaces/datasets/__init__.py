"""Layer 1: data sets and problem spaces.

A data set loads into :class:`DataSplits` (train / calibration / evaluation tensors). Each
registered data set is one module in this package.
"""

from __future__ import annotations

from search_spaces.datasets import cifar10, digits, imagefolder  # noqa: F401  (registration)
from search_spaces.datasets._base import DATASETS, Dataset, DataSplits, Preprocessing, load_dataset

__all__ = ["DATASETS", "DataSplits", "Dataset", "Preprocessing", "load_dataset"]
