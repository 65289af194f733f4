"""Small user models built from the blocks of current mobile architectures (for layer tests).

``mobile_blocks`` has what MobileNetV3, EfficientNet and ConvNeXt-style models are made of:
hard-swish, squeeze-excitation with hard-sigmoid gating, SiLU, a depthwise convolution, a
residual add and layer norm. Given as ``tests._modern_models:mobile_blocks``.
"""

from __future__ import annotations

from torch import Tensor, nn


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(self.expand(nn.functional.relu(self.reduce(self.pool(x)))))


class MobileBlocks(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.Hardswish())
        self.depthwise = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, groups=width), nn.BatchNorm2d(width), nn.SiLU()
        )
        self.se = SqueezeExcitation(width, width // 4)
        self.project = nn.Conv2d(width, width, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        x = x + self.project(self.se(self.depthwise(x)))  # residual add
        return self.head(self.norm(self.pool(x).flatten(1)))


def mobile_blocks(num_classes: int = 10, in_channels: int = 3, **kwargs: object) -> nn.Module:
    return MobileBlocks(num_classes, in_channels)
