"""Latency of the compiled module on the device, with dispersion and raw samples kept.

The protocol itself (warm-up, sample size, repeats) is ``dse.core.measure``'s, shared with
MetaSchedule's runner; this module applies it to a trial and adds the re-measure policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dse.core.measure import LatencyStats

if TYPE_CHECKING:
    import torch

    from dse.core.config import MeasureConfig
    from search_spaces.datasets import DataSplits
    from search_spaces.targets import LoadedModule


def torch_eager_latency(model: torch.nn.Module, x: torch.Tensor, measure: MeasureConfig, threads: int) -> LatencyStats:
    """PyTorch eager inference of ``model`` on ``x`` (one image, batch 1), timed with the same protocol as TVM's
    (``dse.core.measure``: warm-up, sample size, repeats): the reference a user would ship."""
    import torch

    from dse.core.measure import call_timer, sample

    torch.set_num_threads(threads)
    model.eval()
    timer = call_timer(lambda: model(x), around=torch.inference_mode)
    return LatencyStats.from_samples(sample(timer, measure, threads, emulated=False))


def measure_latency(module: LoadedModule, data: DataSplits, measure: MeasureConfig) -> LatencyStats:
    """Time one batch-1 inference with TVM's time_evaluator (warm-up, ``repeat`` samples)."""
    return LatencyStats.from_samples(module.time(data.eval_x[:1].numpy(), measure))


def measure_stable(
    module: LoadedModule, data: DataSplits, measure: MeasureConfig, info: dict[str, object]
) -> LatencyStats:
    """Time the module; a noisy or disturbed measurement is taken again.

    Noisy: cv above ``measure.max_cv``. Disturbed: other processes kept more than
    ``measure.max_foreign_load`` cores busy meanwhile (a steady load slows every sample alike,
    so the cv does not show it). Up to ``measure.max_remeasure`` extra attempts; the best one
    (undisturbed first, then least dispersed) is kept, and the raw samples of the others go to
    ``info["latency_rejected"]``, so no sample is thrown away.
    """

    def disturbed(stats: LatencyStats) -> bool:
        return stats.foreign_load is not None and stats.foreign_load > measure.max_foreign_load

    def acceptable(stats: LatencyStats) -> bool:
        return stats.cv <= measure.max_cv and not disturbed(stats)

    attempts = [measure_latency(module, data, measure)]
    while not acceptable(attempts[-1]) and len(attempts) <= measure.max_remeasure:
        attempts.append(measure_latency(module, data, measure))
    kept = min(attempts, key=lambda stats: (disturbed(stats), stats.cv))
    info["latency_attempts"] = len(attempts)
    info["latency_noisy"] = kept.cv > measure.max_cv
    info["latency_disturbed"] = disturbed(kept)
    if kept.foreign_load is not None:
        info["foreign_load_cores"] = round(kept.foreign_load, 3)
    rejected = [
        {"cv": a.cv, "median_ms": a.median_ms, "foreign_load": a.foreign_load, "samples_ms": list(a.samples_ms)}
        for a in attempts
        if a is not kept
    ]
    if rejected:
        info["latency_rejected"] = rejected
    return kept
