"""CIFAR-10 from a local directory in torchvision's format (``cifar-10-batches-py``)."""

from __future__ import annotations

from pathlib import Path

from dse.core.errors import UsageError
from search_spaces.datasets._base import DATASETS, Dataset, DataSplits, Preprocessing

_MEAN = (0.4914, 0.4822, 0.4465)
_STD = (0.2470, 0.2435, 0.2616)


@DATASETS.register("cifar10")
class Cifar10(Dataset):
    name = "cifar10"
    description = "CIFAR-10, 3x32x32, 10 classes, from --data-dir (torchvision layout)"
    preprocessing = Preprocessing(crop=32, channels=3, mean=_MEAN, std=_STD)
    _NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

    def class_names(self, data_dir: Path | None, num_classes: int) -> list[str]:
        return list(self._NAMES)

    needs_data_dir = True

    def load(self, data_dir: Path | None) -> DataSplits:
        import torch
        from torchvision.datasets import CIFAR10

        assert data_dir is not None  # check_data_dir ran first
        try:
            train = CIFAR10(str(data_dir), train=True, download=False)
            test = CIFAR10(str(data_dir), train=False, download=False)
        except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted."
            raise UsageError(
                f"--data-dir {str(data_dir)!r} holds no CIFAR-10 in torchvision's format "
                f"(expected {data_dir / 'cifar-10-batches-py'}): {exc}"
            ) from None

        def to_tensor(images: object) -> torch.Tensor:
            x = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255.0
            return (x - torch.tensor(_MEAN).view(1, 3, 1, 1)) / torch.tensor(_STD).view(1, 3, 1, 1)

        return DataSplits(
            to_tensor(train.data),
            torch.as_tensor(train.targets),
            to_tensor(test.data),
            torch.as_tensor(test.targets),
            num_classes=10,
            provenance=f"CIFAR-10 in {data_dir}: train batches calibrate and fine-tune, the test batch is evaluated",
        )
