"""The embedded default: scikit-learn's 1,797 labelled 8x8 handwritten digits (no download)."""

from __future__ import annotations

from pathlib import Path

from search_spaces.datasets._base import DATASETS, Dataset, DataSplits, Preprocessing


@DATASETS.register("digits")
class Digits(Dataset):
    name = "digits"
    description = "scikit-learn handwritten digits, 1x8x8, 10 classes, ships with scikit-learn"
    trainable_by_default = True
    # Pixel values 0..16 become -1..1 ((v/16 - 0.5) / 0.5); ink is bright on a dark background.
    preprocessing = Preprocessing(crop=8, channels=1, mean=(0.5,), std=(0.5,), note="ink bright on dark, 8x8")

    def load(self, data_dir: Path | None) -> DataSplits:
        import numpy as np
        import torch
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = (bunch.images.astype(np.float32) / 16.0 - 0.5) / 0.5  # pixel values are 0..16
        labels = bunch.target.astype(np.int64)
        # A fixed permutation: every process and every run sees the same split.
        order = np.random.default_rng(0).permutation(len(labels))
        n_train = int(0.8 * len(labels))
        x = torch.from_numpy(images[order]).unsqueeze(1)
        y = torch.from_numpy(labels[order])
        note = f"scikit-learn digits, fixed seeded split: {n_train} train / {len(y) - n_train} evaluation images"
        return DataSplits(x[:n_train], y[:n_train], x[n_train:], y[n_train:], num_classes=10, provenance=note)
