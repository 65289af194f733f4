"""Dataset base class, the split container and the registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from dse.core.errors import UsageError
from dse.core.registry import Registry

if TYPE_CHECKING:
    import torch


#: Seed of every subset dse draws from a data set (``--eval-limit``, held-out calibration).
SUBSET_SEED = 0


def stratified_indices(labels: torch.Tensor, n: int, seed: int = SUBSET_SEED) -> torch.Tensor:
    """``n`` indices of ``labels`` drawn per class in proportion to its share (seeded, sorted).

    Each class gets ``floor(n * share)`` and the remaining slots go to the largest remainders,
    so every class is represented as in the whole split (a folder sorted by class cut at N
    would keep only the first classes).
    """
    import numpy as np
    import torch

    y = labels.numpy()
    classes, counts = np.unique(y, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quota), kind="stable")[: n - quota.sum()]:
        quota[i] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota, strict=True)]
    return torch.from_numpy(np.sort(np.concatenate(chosen)))


@dataclass(frozen=True)
class DataSplits:
    """Labelled images as float tensors (N, C, H, W), normalized as the models expect.

    ``train_*`` feed calibration and fine-tuning, ``eval_*`` accuracy only; the two never share
    an image. ``provenance`` says where each came from (shown with the study's summary).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    eval_x: torch.Tensor
    eval_y: torch.Tensor
    num_classes: int
    provenance: str = ""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.eval_x.shape[1:]
        return int(c), int(h), int(w)

    def calibration(self, n: int = 64) -> torch.Tensor:
        """``n`` training images, stratified by class: calibration never looks at the evaluation
        split, and sees every class even when the training images are sorted by class."""
        if n >= len(self.train_y):
            return self.train_x
        return self.train_x[stratified_indices(self.train_y, n)]

    def limited(self, eval_limit: int | None) -> DataSplits:
        """The same splits with at most ``eval_limit`` evaluation images, a seeded class-stratified
        subset (None keeps all)."""
        if eval_limit is None or eval_limit >= len(self.eval_y):
            return self
        keep = stratified_indices(self.eval_y, eval_limit)
        note = f"; evaluation: {eval_limit} of {len(self.eval_y)} images, stratified by class (seed {SUBSET_SEED})"
        return DataSplits(
            self.train_x, self.train_y, self.eval_x[keep], self.eval_y[keep], self.num_classes, self.provenance + note
        )


@dataclass(frozen=True)
class Preprocessing:
    """How an image file becomes a model input, for a deployed build (``dse.export``'s runner).

    Pixels scaled to 0..1, the shorter side resized to ``resize`` (None: the whole image to
    ``crop``), a centre ``crop`` x ``crop``, ``channels`` 1 (grey) or 3 (RGB), then
    ``(x - mean) / std`` per channel; NCHW float32, batch 1.
    """

    crop: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int | None = None
    note: str = ""


class Dataset:
    """A registered data set. ``needs_data_dir`` says whether the user must point at files."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs_data_dir: ClassVar[bool] = False
    #: Whether models for it may be trained on first use when no weights are given.
    trainable_by_default: ClassVar[bool] = False
    #: What the loader does to an image, so a deployed model can do the same.
    preprocessing: ClassVar[Preprocessing]

    def load(self, data_dir: Path | None) -> DataSplits:
        raise NotImplementedError

    def class_names(self, data_dir: Path | None, num_classes: int) -> list[str]:
        """The name of each output index (the index itself unless the data set names them)."""
        return [str(i) for i in range(num_classes)]

    def check_data_dir(self, data_dir: Path | None) -> None:
        """Raise a UsageError naming the fix if ``data_dir`` cannot hold this data set."""
        if not self.needs_data_dir:
            return
        if data_dir is None:
            raise UsageError(f"Dataset {self.name!r} needs --data-dir pointing at its files")
        if not data_dir.is_dir():
            raise UsageError(f"--data-dir {str(data_dir)!r} is not a directory; point it at the {self.name} files")


DATASETS: Registry[Dataset] = Registry("dataset")


def load_dataset(name: str, data_dir: Path | None, eval_limit: int | None = None) -> DataSplits:
    """Load a registered data set by name, optionally capping the evaluation split."""
    dataset = DATASETS.get(name)
    dataset.check_data_dir(data_dir)
    return dataset.load(data_dir).limited(eval_limit)
