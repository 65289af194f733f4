"""Layer 5, the runtime: TVM (dse's compile path) or another runtime a user would ship with.

ONNX Runtime and OpenVINO are opt-in (searched when named: ``--runtimes tvm,onnxruntime,openvino``)
and optional packages (``pip install dse[runtimes]``). They run on this host's CPU only; the
algorithm and tuning layers apply to ``tvm`` only (the space is define-by-run).
"""

from __future__ import annotations

from search_spaces.runtimes import onnxruntime, openvino, tvm  # noqa: F401  (registration)
from search_spaces.runtimes._base import RUNTIMES, FunctionModule, Runtime

__all__ = ["RUNTIMES", "FunctionModule", "Runtime"]
