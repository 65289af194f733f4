"""Where a model's weights come from: a local checkpoint, torchvision, or training on first use.

Trained weights are cached under the study folder by a hash of everything that determines
them (architecture, data set, recipe), so each model is trained once per machine. Every
resolved checkpoint is identified by the SHA-256 of its bytes, which keys the evaluation cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dse.core.errors import UsageError, first_line
from dse.core.files import atomic_write, stable_hash
from dse.core.progress import on_terminal, progress
from search_spaces.models._base import MODELS, build_model, is_user_model
from search_spaces.models.onnx_file import OnnxGraph, is_onnx_model

if TYPE_CHECKING:
    from torch import nn

    from search_spaces.datasets import DataSplits

TRAIN = "train"
PRETRAINED = "pretrained"


@dataclass(frozen=True)
class TrainingRecipe:
    """Short CPU training for small models on small data sets."""

    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 2e-3
    seed: int = 0


@dataclass(frozen=True)
class WeightsSpec:
    """``source`` is ``train``, ``pretrained`` or a checkpoint path (file, or folder of ``<model>.pt``)."""

    source: str
    cache_dir: Path
    recipe: TrainingRecipe = TrainingRecipe()


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path
    sha256: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_weights(model_name: str, dataset: str, data: DataSplits, spec: WeightsSpec) -> ResolvedWeights:
    """Find (or make, by training) the checkpoint of ``model_name`` and return it with its hash."""
    if spec.source == TRAIN:
        path = _trained_weights(model_name, dataset, data, spec)
    elif spec.source == PRETRAINED:
        path = _pretrained_weights(model_name, data)
    else:
        path = _checkpoint_path(model_name, Path(spec.source))
    return ResolvedWeights(path, file_sha256(path))


def onnx_weights(name: str) -> ResolvedWeights:
    """An ONNX file is its own weights: its hash identifies them."""
    path = Path(name).resolve()
    return ResolvedWeights(path, file_sha256(path))


def load_model(name: str, data: DataSplits, weights: ResolvedWeights) -> nn.Module | OnnxGraph:
    """The trained model of a trial: a PyTorch module with its weights, or an ONNX file's graph."""
    if is_onnx_model(name):
        return OnnxGraph(Path(name))
    return load_weights(build_model(name, data.num_classes, data.input_shape), weights)


def load_weights(model: nn.Module, weights: ResolvedWeights) -> nn.Module:
    """Load a checkpoint (a state dict, or a dict holding one under ``state_dict``) into ``model``."""
    import torch

    try:
        state = torch.load(weights.path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (pickle/zip errors of a damaged or foreign file)
        raise UsageError(
            f"Cannot read weights {str(weights.path)!r} ({first_line(exc)}); pass a torch state_dict file"
        ) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise UsageError(
            f"Weights {str(weights.path)!r} do not fit this model ({first_line(exc)}); pass the checkpoint of the same "
            "architecture, input shape and class count"
        ) from None
    return model.eval()


def _checkpoint_path(model_name: str, source: Path) -> Path:
    path = source / f"{model_name}.pt" if source.is_dir() else source
    if not path.is_file():
        raise UsageError(
            f"--weights {str(source)!r}: no checkpoint file {str(path)!r}; give a .pt file or a folder of <model>.pt"
        )
    return path


def _pretrained_weights(model_name: str, data: DataSplits) -> Path:
    import torch
    import torchvision

    spec = MODELS.get(model_name) if not is_user_model(model_name) else None
    if spec is None or spec.pretrained is None:
        raise UsageError(f"Model {model_name!r} has no torchvision pretrained weights; pass --weights PATH")
    if data.num_classes != 1000 or data.input_shape[0] != 3 or data.input_shape[1] <= 64:
        raise UsageError(
            f"torchvision's pretrained {model_name} expects 3x224x224 images and 1000 classes, the data set has "
            f"{data.input_shape} and {data.num_classes}; pass --weights PATH"
            + (" or --weights train" if data.input_shape[1] <= 64 else " (your fine-tuned checkpoint)")
        )
    weights = getattr(torchvision.models, spec.pretrained).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file():
        try:
            weights.get_state_dict(progress=on_terminal())
        except Exception as exc:  # noqa: BLE001 (offline: URLError and friends)
            raise UsageError(
                f"Cannot download torchvision weights for {model_name} ({type(exc).__name__}); "
                f"copy {Path(weights.url).name} into {cached.parent} or pass --weights PATH"
            ) from None
    return cached


def _trained_weights(model_name: str, dataset: str, data: DataSplits, spec: WeightsSpec) -> Path:
    recipe = spec.recipe
    key_fields = {
        "model": model_name,
        "dataset": dataset,
        "input_shape": data.input_shape,
        "num_classes": data.num_classes,
        "train_size": len(data.train_y),
        "recipe": recipe.__dict__,
    }
    key = stable_hash(key_fields, 16)
    path = spec.cache_dir / f"{model_name.replace(':', '.')}-{dataset}-{key}.pt"
    if path.is_file():
        return path
    if data.input_shape[1] > 64:
        raise UsageError(
            f"No weights for {model_name} on {dataset}: training full-size models is out of scope here; "
            "pass --weights PATH or --weights pretrained"
        )
    import torch

    model = build_model(model_name, data.num_classes, data.input_shape)
    train_model(model, data, recipe, description=f"training {model_name} on {dataset}")
    with atomic_write(path) as partial:  # a crash never leaves a half-written checkpoint
        torch.save(model.state_dict(), partial)
    return path


def train_model(
    model: nn.Module, data: DataSplits, recipe: TrainingRecipe, description: str, epochs: int | None = None
) -> nn.Module:
    """Train ``model`` in place on the training split, with a progress bar; returns it in eval mode."""
    import torch

    torch.manual_seed(recipe.seed)
    epochs = recipe.epochs if epochs is None else epochs
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(data.train_x, data.train_y), batch_size=recipe.batch_size, shuffle=True
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.learning_rate, total_steps=max(1, epochs * len(loader))
    )
    model.train()
    with progress(epochs * len(loader), description, "batches") as bar:
        for _ in range(epochs):
            for x, y in loader:
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                scheduler.step()
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()
