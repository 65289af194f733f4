"""Evaluation subsets are stratified and seeded; calibration never sees an evaluated image."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from search_spaces.datasets import load_dataset
from search_spaces.datasets._base import DataSplits, stratified_indices


def test_stratified_subset_keeps_class_shares_and_is_seeded() -> None:
    labels = torch.tensor([0] * 500 + [1] * 300 + [2] * 200)  # sorted by class, as ImageFolder reads
    chosen = stratified_indices(labels, 100)
    assert torch.bincount(labels[chosen]).tolist() == [50, 30, 20]
    assert torch.equal(chosen, stratified_indices(labels, 100))  # the same subset in every process
    assert len(set(chosen.tolist())) == 100


def test_eval_limit_on_class_sorted_images_keeps_every_class() -> None:
    x = torch.zeros(90, 1, 2, 2)
    y = torch.arange(3).repeat_interleave(30)  # the first 30 images are all class 0
    limited = DataSplits(x, y, x, y, 3).limited(12)
    assert torch.bincount(limited.eval_y).tolist() == [4, 4, 4]
    assert "stratified by class" in limited.provenance


def test_digits_eval_limit_draws_from_every_class() -> None:
    data = load_dataset("digits", None, eval_limit=50)
    assert len(data.eval_y) == 50 and len(torch.unique(data.eval_y)) == 10


def _image_folder(root: Path, classes: int, per_class: int) -> None:
    from PIL import Image

    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            value = (c * 40 + i) % 256
            Image.new("RGB", (32, 32), (value, value, value)).save(folder / f"{i}.png")


def test_imagefolder_without_train_holds_out_disjoint_calibration_images(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    _image_folder(tmp_path, classes=3, per_class=10)
    data = load_dataset("imagefolder", tmp_path)
    assert len(data.train_y) == 6 and len(data.eval_y) == 24  # a fifth held out
    assert torch.bincount(data.train_y).tolist() == [2, 2, 2]
    flat_train = {tuple(t.flatten()[:4].tolist()) for t in data.train_x}
    flat_eval = {tuple(t.flatten()[:4].tolist()) for t in data.eval_x}
    assert not flat_train & flat_eval, "a calibration image is also evaluated"
    assert "no train/" in data.provenance
    calibration_classes = {
        int(data.train_y[(data.train_x == img).all(dim=(1, 2, 3))][0]) for img in data.calibration(3)
    }
    assert calibration_classes == {0, 1, 2}  # calibration sees every class, not the first ones
