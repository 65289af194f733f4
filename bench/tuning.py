"""Untuned vs MetaSchedule-tuned latency of one CIFAR-sized model on this x86 CPU, vs PyTorch eager.

For each budget (trials per kernel) the model is tuned into its own fresh database, so every
row shows the cost of tuning from scratch (per kernel the faster of the tuned and the default
schedule is built, as each kernel is timed alone; the whole model can still be slower than
untuned at a small budget); then the first budget's schedule is run again in
this process to time a compile that reuses the records (no new trials). PyTorch runs at the
same thread count as TVM (``TVM_NUM_THREADS`` is set from ``--threads`` before TVM starts).

Run on a quiet machine; tuning takes minutes per budget:
    python bench/tuning.py --model resnet18 --budgets 16,64 --threads 2
Smoke run: python bench/tuning.py --model tiny_cnn --budgets 2,4 --repeat 3 --min-repeat-ms 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@dataclass(frozen=True)
class _Images:
    """What the builds read of a data split: its evaluation images (the calibration batch)."""

    eval_x: Any


def _lowered(model: Any, ctx: Any, algorithm: str) -> Any:
    from objectives.compile import import_to_relax
    from search_spaces.algorithms import ALGORITHMS

    return ALGORITHMS.get(algorithm).lower(import_to_relax(model, ctx), {}, ctx)


def _compile_and_time(mod: Any, ctx: Any, x: Any, measure: Any, folder: Path) -> tuple[float, float]:
    """(compile seconds, median latency ms) of a scheduled module."""
    import tvm

    from search_spaces.targets.devices.local import LocalDevice

    start = time.perf_counter()
    executable = tvm.compile(mod, ctx.tvm_target)
    compile_s = time.perf_counter() - start
    library = folder / f"model-{time.monotonic_ns()}.so"
    executable.export_library(str(library))
    samples = LocalDevice("cpu").load(str(library)).time(x.numpy(), measure)
    return compile_s, statistics.median(samples.seconds) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet18", help="registered model, built for 3x32x32 inputs")
    parser.add_argument("--algorithm", default="tvm_default", help="layer-4 algorithm lowering the convolutions")
    parser.add_argument("--budgets", default="16,64", help="MetaSchedule trials per kernel, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--min-repeat-ms", type=int, default=100)
    args = parser.parse_args(argv)
    os.environ["TVM_NUM_THREADS"] = str(args.threads)
    from bench._common import machine_line
    from search_spaces import BuildContext

    print(machine_line(args.threads), flush=True)

    import torch

    from dse.core.config import MeasureConfig
    from objectives.latency import torch_eager_latency
    from search_spaces.models import build_model
    from search_spaces.tuning import TUNING

    torch.manual_seed(0)  # torch_eager_latency sets the thread count

    model = build_model(args.model, 10, (3, 32, 32)).eval()
    x = torch.randn(1, 3, 32, 32)
    measure = MeasureConfig(repeat=args.repeat, min_repeat_ms=args.min_repeat_ms)
    budgets = [int(b) for b in args.budgets.split(",")]
    rows: list[tuple[str, float, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="dse-bench-tuning-") as tmp:
        folder = Path(tmp)
        torch_ms = torch_eager_latency(model, x, measure, args.threads).median_ms
        rows.append(("pytorch eager", torch_ms, "-", "-"))
        ctx = BuildContext.on_host(folder / "untuned", args.threads, _Images(x))
        mod = TUNING.get("untuned").schedule(_lowered(model, ctx, args.algorithm), {}, ctx)
        compile_s, ms = _compile_and_time(mod, ctx, x, measure, folder)
        rows.append(("tvm untuned", ms, "-", f"{compile_s:.1f}"))
        for budget in budgets:
            ctx = BuildContext.on_host(folder / f"budget-{budget}", args.threads, _Images(x))
            start = time.perf_counter()
            mod = TUNING.get("metaschedule").schedule(_lowered(model, ctx, args.algorithm), {"trials": budget}, ctx)
            schedule_s = time.perf_counter() - start
            compile_s, ms = _compile_and_time(mod, ctx, x, measure, folder)
            info = ctx.info
            rows.append(
                (
                    f"tvm metaschedule {budget}/kernel",
                    ms,
                    f"{schedule_s:.0f} ({info['tuning_trials']} trials, {info['tuned_kernels']}/"
                    f"{info['total_kernels']} kernels tuned, {len(info['default_kept_kernels'])} kept the default)",
                    f"{compile_s:.1f}",
                )
            )
        ctx = BuildContext.on_host(folder / f"budget-{budgets[0]}", args.threads, _Images(x))
        start = time.perf_counter()
        mod = TUNING.get("metaschedule").schedule(_lowered(model, ctx, args.algorithm), {"trials": budgets[0]}, ctx)
        compile_s, ms = _compile_and_time(mod, ctx, x, measure, folder)
        reuse_s = time.perf_counter() - start
        assert ctx.info["tuning_trials"] == 0, ctx.info
        rows.append(
            (
                f"reuse {budgets[0]}/kernel records",
                ms,
                f"0 trials, {ctx.info['tuned_kernels']} kernels applied",
                f"{reuse_s:.1f} (lower+apply+compile)",
            )
        )

    print(
        f"\n{args.model} 3x32x32 batch 1, x86 {ctx.tvm_target.attrs.get('mcpu')}, {args.threads} threads "
        f"(TVM_NUM_THREADS and torch), algorithm {args.algorithm}, median of {args.repeat}"
    )
    print(f"{'configuration':34} {'latency_ms':>10}  {'tuning wall s':40} compile s")
    for name, row_ms, tuning, row_compile_s in rows:
        print(f"{name:34} {row_ms:10.3f}  {tuning:40} {row_compile_s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
