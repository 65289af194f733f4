"""A tiny CNN: seconds to train and compile, for quick studies and the test suite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from search_spaces.models._base import ModelSpec, register_model

if TYPE_CHECKING:
    from torch import nn


def tiny_cnn(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, num_classes),
    )


register_model(ModelSpec("tiny_cnn", tiny_cnn, "3 convs + linear, ~15k parameters (tests, quick runs)"))
