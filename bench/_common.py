"""Helpers shared by the benchmarks: the machine line every benchmark prints, PyTorch eager timing,
the build context of a host x86 compile."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def x86_context(data: Any, threads: int, work_dir: Path) -> Any:
    """A ``search_spaces.BuildContext`` for compiling on this host's x86 target, tuning records
    under ``work_dir/tuning``. ``data`` needs what the builds read of it (``eval_x`` at least)."""
    import tvm

    from dse.core.config import DeviceOptions
    from search_spaces import BuildContext
    from search_spaces.targets import TARGETS

    target = TARGETS.get("x86")
    return BuildContext(
        dataset="bench",
        data=data,
        model_key="bench",
        work_dir=work_dir,
        target=target,
        tvm_target=tvm.target.Target(target.tvm_target(threads)),
        threads=threads,
        device_options=DeviceOptions(),
        tuning_db=work_dir / "tuning",
    )
