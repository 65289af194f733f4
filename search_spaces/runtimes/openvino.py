"""OpenVINO on the CPU: the model as exported ONNX, fp32 (or bf16), fp16, or NNCF int8.

int8 is NNCF's post-training quantization (``nncf.quantize``, OpenVINO's own path) calibrated
on the same training images dse's int8 uses. ``hint`` is OpenVINO's performance hint;
``inference_precision`` is the precision its CPU plugin computes an fp32 model in (f32, or
bf16 where the CPU has it); fp16 trials ask for f16.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from search_spaces._base import Param
from search_spaces.runtimes._base import RUNTIMES, FunctionModule, Runtime, calibration_images

if TYPE_CHECKING:
    from search_spaces._context import BuildContext

HINTS = ("latency", "throughput")
FP32_PRECISIONS = ("f32", "bf16")


@RUNTIMES.register("openvino")
class OpenVino(Runtime):
    description = "OpenVINO, CPU plugin (fp32/bf16, fp16, NNCF int8); pip install dse[runtimes]"
    package = "openvino"
    opt_in = True
    precisions = ("fp32", "fp16", "int8")
    params = (Param("hint", HINTS), Param("inference_precision", FP32_PRECISIONS))

    def load(self, onnx_path: Path, config: Any, ctx: BuildContext, folder: Path) -> FunctionModule:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(onnx_path))
        precision = config.precision.name
        if precision == "int8":
            import logging

            # NNCF imports torch's C++-extension helper, which warns on every CPU-only machine
            # that CUDA_HOME has no CUDA runtime: noise in a trial's log, not a finding.
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
            import nncf

            images = calibration_images(ctx)
            model = nncf.quantize(model, nncf.Dataset(images), subset_size=len(images))
            ctx.info["calibration_images"] = len(images)
        params = config.runtime.param_dict
        inference = "f16" if precision == "fp16" else str(self.value(params, "inference_precision"))
        properties = {
            "PERFORMANCE_HINT": str(self.value(params, "hint")).upper(),
            "INFERENCE_NUM_THREADS": ctx.threads,
            "INFERENCE_PRECISION_HINT": inference if precision != "int8" else "f32",
        }
        compiled = core.compile_model(model, "CPU", properties)
        request = compiled.create_infer_request()
        ctx.info["runtime_version"] = ov.get_version()
        ctx.info["openvino_properties"] = {k: str(v) for k, v in properties.items()}

        def infer(x: Any) -> Any:
            request.infer({0: x})
            return request.get_output_tensor(0).data.copy()

        return FunctionModule(infer, ctx.threads)
