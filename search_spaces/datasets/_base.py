"""Dataset base class, the split container and the registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from dse.core.errors import UsageError
from dse.core.registry import Registry

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class DataSplits:
    """Labelled images as float tensors (N, C, H, W), normalized as the models expect."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    eval_x: torch.Tensor
    eval_y: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.eval_x.shape[1:]
        return int(c), int(h), int(w)

    def calibration(self, n: int = 64) -> torch.Tensor:
        """The first ``n`` training images: calibration never looks at the evaluation split."""
        return self.train_x[:n]

    def limited(self, eval_limit: int | None) -> DataSplits:
        """The same splits with at most ``eval_limit`` evaluation images (None keeps all)."""
        if eval_limit is None or eval_limit >= len(self.eval_y):
            return self
        return DataSplits(
            self.train_x, self.train_y, self.eval_x[:eval_limit], self.eval_y[:eval_limit], self.num_classes
        )


class Dataset:
    """A registered data set. ``needs_data_dir`` says whether the user must point at files."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs_data_dir: ClassVar[bool] = False
    #: Whether models for it may be trained on first use when no weights are given.
    trainable_by_default: ClassVar[bool] = False

    def load(self, data_dir: Path | None) -> DataSplits:
        raise NotImplementedError

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
