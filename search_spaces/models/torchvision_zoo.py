"""torchvision architectures, with CIFAR-style stems for small inputs.

For inputs of at most 64 pixels the first convolution becomes 3x3 stride 1 and the stem's
pooling goes, as in the usual CIFAR variants; down-sampling that would shrink the feature
map below 1x1 is dropped. The first convolution also takes the data set's channel count.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

from search_spaces.models._base import SMALL_INPUT_MAX, ModelSpec, register_model

if TYPE_CHECKING:
    from torch import nn

# name -> (torchvision builder, weights enum name)
_ARCHITECTURES: dict[str, str] = {
    "resnet18": "ResNet18_Weights",
    "resnet50": "ResNet50_Weights",
    "mobilenet_v2": "MobileNet_V2_Weights",
    "vgg11": "VGG11_Weights",
    "vgg16": "VGG16_Weights",
    "densenet121": "DenseNet121_Weights",
    "efficientnet_b0": "EfficientNet_B0_Weights",
    "mnasnet1_0": "MNASNet1_0_Weights",
    "shufflenet_v2_x1_0": "ShuffleNet_V2_X1_0_Weights",
}


def _stem_conv_path(arch: str) -> str:
    """Dotted path of the first convolution of each architecture."""
    return {
        "resnet18": "conv1",
        "resnet50": "conv1",
        "mobilenet_v2": "features.0.0",
        "vgg11": "features.0",
        "vgg16": "features.0",
        "densenet121": "features.conv0",
        "efficientnet_b0": "features.0.0",
        "mnasnet1_0": "layers.0",
        "shufflenet_v2_x1_0": "conv1.0",
    }[arch]


def _stem_pool_path(arch: str) -> str | None:
    return {
        "resnet18": "maxpool",
        "resnet50": "maxpool",
        "densenet121": "features.pool0",
        "shufflenet_v2_x1_0": "maxpool",
    }.get(arch)


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, leaf, new)


def _adapt(model: nn.Module, arch: str, in_channels: int, image_size: int) -> nn.Module:
    from torch import nn

    small = image_size <= SMALL_INPUT_MAX
    stem_path = _stem_conv_path(arch)
    stem = model.get_submodule(stem_path)
    assert isinstance(stem, nn.Conv2d)
    if small or in_channels != stem.in_channels:
        kernel, stride, padding = (3, 1, 1) if small else (stem.kernel_size, stem.stride, stem.padding)
        kernel, stride, padding = cast(Any, kernel), cast(Any, stride), cast(Any, padding)  # torch's own tuples
        _replace(
            model,
            stem_path,
            nn.Conv2d(in_channels, stem.out_channels, kernel, stride, padding, bias=stem.bias is not None),
        )
    if not small:
        return model
    if arch == "mnasnet1_0":
        # MNASNet's batch norms use momentum 0.0003 (tuned for long ImageNet runs); trained for a
        # few epochs from scratch, their running statistics would stay at their initial values.
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = 0.1
    pool_path = _stem_pool_path(arch)
    if pool_path:
        _replace(model, pool_path, nn.Identity())
    if arch.startswith("vgg"):
        # VGG pools 5 times and ends in 25088->4096->4096 dense layers; small inputs keep as
        # many 2x2 pools as the image allows and get a single linear classifier.
        vgg: Any = model  # torchvision.models.VGG: features, avgpool, classifier
        pools = [name for name, m in vgg.features.named_children() if isinstance(m, nn.MaxPool2d)]
        for name in pools[int(math.log2(image_size)) :]:
            vgg.features[int(name)] = nn.Identity()
        vgg.avgpool = nn.AdaptiveAvgPool2d(1)
        vgg.classifier = nn.Linear(512, vgg.classifier[-1].out_features)
    return model


def _factory(arch: str):
    def build(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        import torchvision

        model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        return _adapt(model, arch, in_channels, image_size)

    return build


for _arch, _weights in _ARCHITECTURES.items():
    register_model(ModelSpec(_arch, _factory(_arch), f"torchvision {_arch}", pretrained=_weights))
