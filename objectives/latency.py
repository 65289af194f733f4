"""Latency of the compiled module on the device, with dispersion and raw samples kept.

The protocol itself (warm-up, sample size, repeats) is ``dse.core.measure``'s, shared with
MetaSchedule's runner; this module applies it to a trial and adds the re-measure policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dse.core.measure import LatencyStats

if TYPE_CHECKING:
    from dse.core.config import MeasureConfig
    from search_spaces.datasets import DataSplits
    from search_spaces.targets import LoadedModule


def measure_latency(module: LoadedModule, data: DataSplits, measure: MeasureConfig) -> LatencyStats:
    """Time one batch-1 inference with TVM's time_evaluator (warm-up, ``repeat`` samples)."""
    return LatencyStats.from_samples(module.time(data.eval_x[:1].numpy(), measure))


def measure_stable(
    module: LoadedModule, data: DataSplits, measure: MeasureConfig, info: dict[str, object]
) -> LatencyStats:
    """Time the module; a noisy measurement (cv above ``measure.max_cv``) is taken again.

    Up to ``measure.max_remeasure`` extra attempts; the least dispersed one is kept, and the raw
    samples of the others go to ``info["latency_rejected"]``, so no sample is thrown away.
    """
    attempts = [measure_latency(module, data, measure)]
    while attempts[-1].cv > measure.max_cv and len(attempts) <= measure.max_remeasure:
        attempts.append(measure_latency(module, data, measure))
    kept = min(attempts, key=lambda stats: stats.cv)
    info["latency_attempts"] = len(attempts)
    info["latency_noisy"] = kept.cv > measure.max_cv
    rejected = [
        {"cv": a.cv, "median_ms": a.median_ms, "samples_ms": list(a.samples_ms)} for a in attempts if a is not kept
    ]
    if rejected:
        info["latency_rejected"] = rejected
    return kept
