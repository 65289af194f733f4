from __future__ import annotations

import pytest

from dse.core.errors import UsageError
from dse.core.registry import Registry


def test_unknown_name_lists_valid_names_and_close_match() -> None:
    registry: Registry[int] = Registry("target")
    for name, value in (("arm", 1), ("cuda", 2), ("x86", 3)):
        registry.register(name)(value)
    with pytest.raises(UsageError, match=r"Unknown target 'arn'\. Available: arm, cuda, x86\. Did you mean 'arm'\?"):
        registry.get("arn")


def test_duplicate_registration_raises() -> None:
    registry: Registry[int] = Registry("model")
    registry.register("a")(1)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")(2)


def test_decorated_class_is_registered_as_named_instance() -> None:
    registry: Registry[object] = Registry("thing")

    @registry.register("widget")
    class Widget:
        name = ""

    assert isinstance(registry.get("widget"), Widget)
    assert registry.get("widget").name == "widget"


def test_every_layer_registry_is_populated() -> None:
    from search_spaces import layer_registries
    from search_spaces.models import MODELS
    from search_spaces.targets import TARGETS

    for registry in [*layer_registries().values(), MODELS, TARGETS]:
        assert registry.names(), registry.what
    assert {
        "resnet18",
        "resnet50",
        "mobilenet_v2",
        "vgg11",
        "vgg16",
        "densenet121",
        "efficientnet_b0",
        "mnasnet1_0",
        "shufflenet_v2_x1_0",
    } <= set(MODELS.names())
