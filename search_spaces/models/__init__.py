"""Layer 2: models and architectures.

torchvision architectures (with small-input variants for 8x8 to 64x64 images), a tiny CNN
for quick runs and tests, and user models given as ``package.module:factory``.
"""

from __future__ import annotations

from search_spaces.models import tiny, torchvision_zoo  # noqa: F401  (registration)
from search_spaces.models._base import MODELS, ModelSpec, build_model, is_user_model
from search_spaces.models._weights import (
    ResolvedWeights,
    TrainingRecipe,
    WeightsSpec,
    file_sha256,
    load_weights,
    resolve_weights,
    train_model,
)

__all__ = [
    "MODELS",
    "ModelSpec",
    "ResolvedWeights",
    "TrainingRecipe",
    "WeightsSpec",
    "build_model",
    "file_sha256",
    "is_user_model",
    "load_weights",
    "resolve_weights",
    "train_model",
]
