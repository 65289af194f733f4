"""Small CNNs: seconds to train and compile, for quick studies, exhaustive tables and tests.

``tiny_cnn`` is a plain stack. ``mini_resnet`` and ``mini_mobilenet`` are the ResNet and
MobileNetV2 families in miniature (residual basic blocks with a 1x1 projection; inverted
residuals with 1x1 expansion, 3x3 depthwise and a linear 1x1 projection), so a factorial over
every layer of the stack can be measured on one CPU in one sitting while its models still
differ the way the full-size families do (dense 3x3 vs depthwise and pointwise convolutions).
"""

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


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    from torch import nn

    return [
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]


def _basic_block(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """torchvision's ResNet BasicBlock, built from its parts."""
    from torch import nn
    from torchvision.models.resnet import BasicBlock

    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride))
    return BasicBlock(in_channels, out_channels, stride, downsample)


def mini_resnet(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    from torch import nn

    return nn.Sequential(
        *_conv_bn(in_channels, 16, 3),
        nn.ReLU(),
        _basic_block(16, 16, 1),
        _basic_block(16, 32, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, num_classes),
    )


def mini_mobilenet(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    from torch import nn
    from torchvision.models.mobilenetv2 import InvertedResidual

    return nn.Sequential(
        *_conv_bn(in_channels, 16, 3),
        nn.ReLU6(),
        InvertedResidual(16, 16, 1, expand_ratio=4),
        InvertedResidual(16, 32, 2, expand_ratio=4),
        *_conv_bn(32, 64, 1),
        nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, num_classes),
    )


register_model(ModelSpec("tiny_cnn", tiny_cnn, "3 convs + linear, ~15k parameters (tests, quick runs)"))
register_model(
    ModelSpec("mini_resnet", mini_resnet, "ResNet in miniature: 2 basic blocks, 6 convs (exhaustive tables)")
)
register_model(
    ModelSpec(
        "mini_mobilenet", mini_mobilenet, "MobileNetV2 in miniature: 2 inverted residuals, 8 convs (exhaustive tables)"
    )
)
