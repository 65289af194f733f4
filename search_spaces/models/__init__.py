"""Layer 2: models and architectures.

torchvision architectures (with small-input variants for 8x8 to 64x64 images), a tiny CNN
for quick runs and tests, user models given as ``package.module:factory``, and ONNX files.
"""

from __future__ import annotations

from search_spaces.models import tiny, torchvision_zoo  # noqa: F401  (registration)
from search_spaces.models._base import MODELS, ModelSpec, build_model, is_user_model
from search_spaces.models._relax import for_inference
from search_spaces.models._weights import (
    ResolvedWeights,
    TrainingRecipe,
    WeightsSpec,
    file_sha256,
    load_model,
    load_weights,
    onnx_weights,
    resolve_weights,
    train_model,
)
from search_spaces.models.onnx_file import (
    NO_PYTORCH_MODULE,
    OnnxGraph,
    check_onnx_model,
    export_onnx,
    import_onnx,
    is_onnx_model,
)

__all__ = [
    "MODELS",
    "NO_PYTORCH_MODULE",
    "ModelSpec",
    "OnnxGraph",
    "ResolvedWeights",
    "TrainingRecipe",
    "WeightsSpec",
    "build_model",
    "check_onnx_model",
    "export_onnx",
    "file_sha256",
    "for_inference",
    "import_onnx",
    "is_onnx_model",
    "is_user_model",
    "load_model",
    "load_weights",
    "onnx_weights",
    "resolve_weights",
    "train_model",
]
