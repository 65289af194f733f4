"""Model specs, the registry, and user model factories (``package.module:factory``)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dse.core.errors import UsageError
from dse.core.registry import Registry

if TYPE_CHECKING:
    from torch import nn

#: Inputs at most this wide get the CIFAR-style stem (3x3 stride-1 first conv, no stem pool).
SMALL_INPUT_MAX = 64


@dataclass(frozen=True)
class ModelSpec:
    """How to build one architecture for a data set's input shape and class count."""

    name: str
    factory: Callable[[int, int, int], nn.Module]  # (num_classes, in_channels, image_size)
    description: str = ""
    #: torchvision weights enum name for full-size ImageNet models, if any.
    pretrained: str | None = None


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(spec: ModelSpec) -> ModelSpec:
    return MODELS.register(spec.name)(spec)


def is_user_model(name: str) -> bool:
    return ":" in name


def build_model(name: str, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """Build an untrained model (registered name or ``package.module:factory``)."""
    in_channels, image_size = input_shape[0], input_shape[1]
    if is_user_model(name):
        return _build_user_model(name, num_classes, in_channels, image_size)
    return MODELS.get(name).factory(num_classes, in_channels, image_size)


def _build_user_model(spec: str, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    from torch import nn

    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(
            f"Cannot load user model {spec!r} ({exc}); give it as package.module:factory importable from PYTHONPATH"
        ) from None
    try:
        model = factory(**_factory_kwargs(factory, num_classes, in_channels, image_size))
    except Exception as exc:  # noqa: BLE001 (user code: any failure is a usage error with its reason)
        raise UsageError(f"User model factory {spec!r} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise UsageError(
            f"User model factory {spec!r} must return a torch.nn.Module, got {type(model).__name__} instead"
        )
    _check_output_width(spec, model, num_classes, in_channels, image_size)
    return model


def _factory_kwargs(factory: Callable[..., Any], num_classes: int, in_channels: int, image_size: int) -> dict[str, Any]:
    """The keyword arguments ``factory`` names; all of them when it takes ``**kwargs``."""
    offered: dict[str, Any] = {"num_classes": num_classes, "in_channels": in_channels, "image_size": image_size}
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or C extension: give it what it asks for by name only
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return offered
    return {k: v for k, v in offered.items() if k in parameters}


def _check_output_width(spec: str, model: nn.Module, num_classes: int, in_channels: int, image_size: int) -> None:
    """A head of the wrong width would score every trial against labels it cannot emit."""
    import torch

    training = model.training
    try:
        with torch.no_grad():  # not inference_mode: lazy layers would get inference-only parameters
            out = model.eval()(torch.zeros(1, in_channels, image_size, image_size))
    except Exception as exc:  # noqa: BLE001 (user code)
        raise UsageError(
            f"User model {spec!r} fails on a 1x{in_channels}x{image_size}x{image_size} input "
            f"({type(exc).__name__}: {exc}); make the factory build for that input"
        ) from None
    finally:
        model.train(training)
    width = out.shape[-1] if isinstance(out, torch.Tensor) and out.ndim == 2 else None
    if width != num_classes:
        shown = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UsageError(
            f"User model {spec!r} outputs {shown} but the data set has {num_classes} classes; build it with "
            f"num_classes={num_classes} (the factory gets num_classes when it names it or takes **kwargs)"
        )
