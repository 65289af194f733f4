"""Models given as ONNX files (``--models path/to/model.onnx``), imported with Relax's ONNX frontend.

An ONNX file is a graph with its weights: no PyTorch module exists, so the layers that rewrite
one (pruning, and the fine-tuning that comes with it) do not apply to it and say so; precision,
algorithm, tuning and target apply as to any model, and accuracy is measured the same way. The
file is its own weights (``--weights`` does not apply); its SHA-256 identifies it in the cache
and the study.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dse.core.errors import UsageError, first_line

SUFFIX = ".onnx"
NO_PYTORCH_MODULE = "needs a PyTorch module, and an ONNX model has none (it is searched without pruning)"


def is_onnx_model(name: str) -> bool:
    return name.lower().endswith(SUFFIX)


@dataclass(frozen=True)
class OnnxGraph:
    """An ONNX model file, standing where a PyTorch module stands for other models."""

    path: Path

    def parameter_count(self) -> int:
        import numpy as np
        import onnx

        graph = onnx.load(str(self.path), load_external_data=False).graph
        return int(sum(np.prod(init.dims, dtype=np.int64) for init in graph.initializer))


def _load(path: Path) -> Any:
    try:
        import onnx
    except ImportError:
        raise UsageError("--models with an .onnx file needs the onnx package: pip install onnx") from None
    if not path.is_file():
        raise UsageError(f"ONNX model {str(path)!r} does not exist; give the path of an .onnx file")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 (a damaged or foreign file: any reader error)
        raise UsageError(f"ONNX model {str(path)!r} cannot be read ({type(exc).__name__}: {first_line(exc)})") from None
    return model


def _graph_inputs(model: Any) -> list[Any]:
    """The graph's real inputs (older exporters also list the weights as inputs)."""
    weights = {init.name for init in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in weights]


def _dims(value: Any) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


def check_onnx_model(name: str, num_classes: int, input_shape: tuple[int, int, int]) -> None:
    """One line naming the fix unless the file takes one (N, C, H, W) image of the data set's shape
    and gives ``num_classes`` scores per image."""
    model = _load(Path(name))
    inputs, outputs = _graph_inputs(model), list(model.graph.output)
    if len(inputs) != 1 or len(outputs) < 1:
        raise UsageError(f"ONNX model {name!r} has {len(inputs)} inputs: dse feeds one image tensor (N, C, H, W)")
    expected = [1, *input_shape]
    dims = _dims(inputs[0])
    if len(dims) != 4 or any(d is not None and d != e for d, e in zip(dims[1:], expected[1:], strict=True)):
        raise UsageError(
            f"ONNX model {name!r} takes input {dims} but the data set gives {expected}; export it for that shape"
        )
    width = _dims(outputs[0])[-1:] or [None]
    if width[0] is not None and width[0] != num_classes:
        raise UsageError(
            f"ONNX model {name!r} outputs {width[0]} scores per image but the data set has {num_classes} classes"
        )


def import_onnx(graph: OnnxGraph, input_shape: tuple[int, ...]) -> Any:
    """The ONNX graph as a Relax module with its weights bound as constants, batch 1."""
    from tvm.relax.frontend.onnx import from_onnx

    from search_spaces.models._relax import for_inference

    model = _load(graph.path)
    (image,) = _graph_inputs(model)
    mod = from_onnx(model, shape_dict={image.name: list(input_shape)}, keep_params_in_input=False)
    return for_inference(mod)


def input_name(path: Path) -> str:
    """The name of the file's one image input."""
    (image,) = _graph_inputs(_load(path))
    return str(image.name)


def export_onnx(model: Any, example: Any, path: Path) -> Path:
    """A PyTorch model as an ONNX file (opset 17, one input ``image``, batch 1) for another runtime.

    TorchScript-based export: the dynamo exporter needs onnxscript, and for these CNNs both
    give the same graph.
    """
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated, still supported
        torch.onnx.export(
            model.eval(),
            (example,),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["scores"],
            opset_version=17,
        )
    return path


__all__ = [
    "NO_PYTORCH_MODULE",
    "OnnxGraph",
    "check_onnx_model",
    "export_onnx",
    "import_onnx",
    "input_name",
    "is_onnx_model",
]
