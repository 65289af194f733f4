"""TVM: dse's own compile path, whose algorithm (layer 4) and tuning (layer 5) the trial chooses."""

from __future__ import annotations

from search_spaces.runtimes._base import RUNTIMES, Runtime


@RUNTIMES.register("tvm")
class Tvm(Runtime):
    description = "Apache TVM: dse's compile path (the algorithm and tuning layers apply to it only)"
    uses_tvm = True
    precisions = ("fp32", "fp16", "int8")
