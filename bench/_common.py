"""Helpers shared by the benchmarks: the machine line every benchmark prints, PyTorch eager timing."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def torch_eager_latency_ms(
    model: torch.nn.Module, x: torch.Tensor, threads: int, repeat: int = 10, min_repeat_ms: float = 100.0
) -> float:
    """Median per-inference latency of ``model(x)`` in PyTorch eager mode, same protocol as TVM's."""
    import torch

    torch.set_num_threads(threads)
    model.eval()
    with torch.inference_mode():
        model(x)
        start = time.perf_counter()
        model(x)
        single_s = max(time.perf_counter() - start, 1e-9)
        number = max(1, int(min_repeat_ms / 1000 / single_s) + 1)
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(number):
                model(x)
            samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples) * 1000


def machine_line(threads: int) -> str:
    """CPU name, its vector features and the thread count: which machine a number is from."""
    from search_spaces.targets import host_cpu

    cpu = host_cpu()
    return (
        f"CPU: {cpu['name']} ({cpu['arch']}, {cpu['cores']} cores); vector features: "
        f"{' '.join(cpu['features']) or 'none reported'}; threads: {threads}"
    )
