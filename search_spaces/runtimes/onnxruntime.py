"""ONNX Runtime on the CPU: the model as exported ONNX, fp32 or static QDQ int8.

int8 is ONNX Runtime's own static quantization (``quantize_static``, QDQ format, per-channel
int8 weights, uint8 activations calibrated on the same training images dse's int8 uses).
``graph_optimization`` is the session's graph optimization level.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from search_spaces._base import Param
from search_spaces.runtimes._base import RUNTIMES, FunctionModule, Runtime, calibration_images

if TYPE_CHECKING:
    from search_spaces._context import BuildContext

LEVELS = ("all", "extended", "basic")


@RUNTIMES.register("onnxruntime")
class OnnxRuntime(Runtime):
    description = "ONNX Runtime, CPU execution provider (fp32; int8 as static QDQ); pip install dse[runtimes]"
    package = "onnxruntime"
    opt_in = True
    precisions = ("fp32", "int8")
    params = (Param("graph_optimization", LEVELS),)

    def load(self, onnx_path: Path, config: Any, ctx: BuildContext, folder: Path) -> FunctionModule:
        import onnxruntime as ort

        ort.set_default_logger_severity(3)  # errors only: its graph warnings would flood a trial's log
        if config.precision.name == "int8":
            onnx_path = _quantize(onnx_path, ctx, folder)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = ctx.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        level = str(self.value(config.runtime.param_dict, "graph_optimization"))
        options.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        }[level]
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        ctx.info["runtime_version"] = ort.__version__
        return FunctionModule(lambda x: session.run(None, {name: x})[0], ctx.threads)


def _quantize(onnx_path: Path, ctx: BuildContext, folder: Path) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from search_spaces.models.onnx_file import input_name

    images, name = calibration_images(ctx), input_name(onnx_path)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter({name: image} for image in images)

        def get_next(self) -> dict[str, Any] | None:
            return next(self._feeds, None)

    # ONNX Runtime's recommended pre-processing (shape inference, graph optimization: folded
    # biases become initializers, so every conv quantizes).
    prepared, quantized = folder / "model.pre.onnx", folder / "model.int8.onnx"
    quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(quantized),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    ctx.info["calibration_images"] = len(images)
    return quantized
