"""Latency of the compiled module on the device, with dispersion and raw samples kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

from objectives._result import LatencyStats

if TYPE_CHECKING:
    from dse.config import MeasureConfig
    from dse.devices import LoadedModule
    from search_spaces.datasets import DataSplits


def measure_latency(module: LoadedModule, data: DataSplits, measure: MeasureConfig) -> LatencyStats:
    """Time one batch-1 inference with TVM's time_evaluator (warm-up, ``repeat`` samples)."""
    return LatencyStats.from_samples(module.time(data.eval_x[:1].numpy(), measure))
