"""An ImageNet-style ``ImageFolder`` directory: one sub-folder of images per class.

``--data-dir`` may hold ``val/`` (evaluation) and optionally ``train/`` (calibration and
fine-tuning); a directory of class folders alone is used as the evaluation split. Without
``train/``, a seeded class-stratified fifth of the evaluation images is held out for
calibration and fine-tuning and never evaluated on, so int8 calibration and fine-tuning
never see an image they are scored on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dse.core.errors import UsageError
from search_spaces.datasets._base import DATASETS, Dataset, DataSplits, Preprocessing, stratified_indices

if TYPE_CHECKING:
    import torch

_IMAGE_SIZE = 224
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


@DATASETS.register("imagefolder")
class ImageFolderDataset(Dataset):
    name = "imagefolder"
    description = "ImageNet-style class folders (val/ and optional train/), 3x224x224, from --data-dir"
    needs_data_dir = True
    preprocessing = Preprocessing(crop=_IMAGE_SIZE, channels=3, mean=_MEAN, std=_STD, resize=256)

    def class_names(self, data_dir: Path | None, num_classes: int) -> list[str]:
        """ImageFolder's order: the evaluation folder's class sub-folders, sorted."""
        assert data_dir is not None
        folder = data_dir / "val" if (data_dir / "val").is_dir() else data_dir
        return sorted(entry.name for entry in folder.iterdir() if entry.is_dir())

    def load(self, data_dir: Path | None) -> DataSplits:

        assert data_dir is not None  # check_data_dir ran first
        eval_dir = data_dir / "val" if (data_dir / "val").is_dir() else data_dir
        train_dir = data_dir / "train" if (data_dir / "train").is_dir() else eval_dir
        eval_x, eval_y, classes = _read_folder(eval_dir)
        if train_dir != eval_dir:
            train_x, train_y, _ = _read_folder(train_dir)
            return DataSplits(
                train_x, train_y, eval_x, eval_y, len(classes), f"train: {train_dir}; evaluation: {eval_dir}"
            )
        return _hold_out(eval_x, eval_y, len(classes), eval_dir)


#: Share of the images held out for calibration and fine-tuning when there is no ``train/``.
HELD_OUT_SHARE = 0.2


def _hold_out(x: torch.Tensor, y: torch.Tensor, num_classes: int, folder: Path) -> DataSplits:
    import torch

    held = stratified_indices(y, max(1, round(HELD_OUT_SHARE * len(y))))
    evaluated = torch.ones(len(y), dtype=torch.bool)
    evaluated[held] = False
    note = (
        f"no train/ in {folder}: {len(held)} of its {len(y)} images (a seeded, class-stratified "
        f"{HELD_OUT_SHARE:.0%}) calibrate and fine-tune, the other {int(evaluated.sum())} are evaluated"
    )
    return DataSplits(x[held], y[held], x[evaluated], y[evaluated], num_classes, note)


def _read_folder(folder: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    import torch
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    transform = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(_IMAGE_SIZE),
            transforms.ToTensor(),
            transforms.Normalize(_MEAN, _STD),
        ]
    )
    try:
        folder_set = ImageFolder(str(folder), transform=transform)
    except (FileNotFoundError, RuntimeError) as exc:
        raise UsageError(
            f"--data-dir {str(folder)!r} is not an ImageFolder (one sub-folder of images per class): {exc}"
        ) from None
    images, labels = [], []
    for path, label in folder_set.samples:
        try:
            images.append(folder_set.loader(path))
        except OSError as exc:
            raise UsageError(f"Unreadable image {path!r} in --data-dir: {exc}; remove or replace it") from None
        labels.append(label)
    x = torch.stack([transform(image) for image in images])
    return x, torch.as_tensor(labels), list(folder_set.classes)
