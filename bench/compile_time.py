"""Where a trial's compile time goes: seconds per build stage, for a model at 224x224.

Builds ``--model`` untuned for this host once per ``--configs`` entry (precision:algorithm) and
prints the seconds of each stage a build records (``info["build_stages_s"]``): pruning, import
(torch.export, Relax import, batch-norm fold), precision (int8: calibration included), algorithm
(the convolutions' lowering, legalization, constant folding, fusion), tuning (the default
schedule rules), tvm.compile (TIR passes and LLVM IR) and export (LLVM code generation and the
link), and the distinct kernels against kernel calls (identical layers share one kernel,
built once). ``--passes N`` adds the N passes that took tvm.compile longest. The model's batch norms
carry statistics from a few training-mode passes over random images, as a trained model's do (at
their initial statistics every BN folds to the same constants, which hides the fold's cost).
``per_layer`` is built twice in one folder: with no decisions yet (it times each layer's
candidates) and again reusing them, as a study's later trials do.

    python -m bench.compile_time [--model resnet18] [--configs fp32:spatial_pack,int8:spatial_pack]
        [--threads 1] [--passes 5]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_CONFIGS = "fp32:spatial_pack,fp32:winograd,fp32:per_layer,fp32:direct,fp32:im2col_gemm,int8:spatial_pack"
STAGES = ("pruning", "import", "precision", "algorithm", "tuning", "tvm.compile", "export")


def _with_batch_norm_statistics(model: Any, images: Any) -> Any:
    """``model`` after a few training-mode passes over ``images``: its BNs no longer identities."""
    import torch

    model.train()
    with torch.no_grad():
        for batch in images.split(8):
            model(batch)
    return model.eval()


def _slowest_passes(timing_report: str, count: int) -> list[tuple[str, float]]:
    """The ``count`` passes with the most self time in a PassTimingInstrument report."""
    self_us: dict[str, int] = {}
    for match in re.finditer(r"^\s*(\S+): \d+us \[(\d+)us\]", timing_report, flags=re.MULTILINE):
        self_us[match.group(1)] = self_us.get(match.group(1), 0) + int(match.group(2))
    ranked = sorted(self_us.items(), key=lambda item: -item[1])[:count]
    return [(name, us / 1e6) for name, us in ranked]


def _kernels_and_calls(mod: Any) -> tuple[int, int]:
    """The module's distinct kernels (PrimFuncs) and the kernel calls of its ``main``: fewer
    kernels than calls where identical layers share one build."""
    from tvm import relax, tirx

    kernels = sum(isinstance(f, tirx.PrimFunc) for f in mod.functions.values())
    calls = 0

    def count(expr: Any) -> None:
        nonlocal calls
        calls += isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.call_tir"

    relax.analysis.post_order_visit(mod["main"], count)
    return kernels, calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="precision:algorithm, comma separated")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--passes", type=int, default=0, help="list the N slowest passes of tvm.compile")
    args = parser.parse_args(argv)
    configs = [tuple(item.split(":", 1)) for item in args.configs.split(",") if item]
    if not configs or any(len(c) != 2 for c in configs):
        parser.error(f"--configs must be precision:algorithm entries, got {args.configs!r}")
    os.environ["TVM_NUM_THREADS"] = str(args.threads)  # before TVM's runtime starts
    os.environ.setdefault("DSE_NO_PROGRESS", "1")
    import torch
    import tvm

    from bench._common import host_context, machine_line, random_images, trial_config
    from objectives.compile import compile_module, prepare_module
    from search_spaces.models import build_model

    torch.set_num_threads(args.threads)
    print(machine_line(args.threads), flush=True)
    data = random_images(args.size, 1000, 3)
    print(f"model={args.model} size={args.size} (seconds per stage; total = the build's wall time)")
    print(
        f"{'precision:algorithm':28s} "
        + " ".join(f"{s:>11s}" for s in STAGES)
        + f" {'total':>7s} {'kernels/calls':>13s}"
    )
    for precision, algorithm in configs:
        with tempfile.TemporaryDirectory(prefix="dse-compile-") as tmp:
            rounds = ("first", "decided") if algorithm == "per_layer" else ("",)
            for label in rounds:
                ctx = host_context(Path(tmp), args.threads, data)
                torch.manual_seed(0)
                model = build_model(args.model, 1000, (3, args.size, args.size))
                model = _with_batch_norm_statistics(model, data.calibration(16))
                config = trial_config(args.model, precision, "tvm", algorithm)
                timing = tvm.ir.instrument.PassTimingInstrument()
                start = time.perf_counter()
                prepared = prepare_module(config, model, ctx)
                # Only around tvm.compile: each build stage enters its own PassContext, which
                # would restart the timing instrument.
                with tvm.transform.PassContext(opt_level=3, instruments=[timing] if args.passes else []):
                    compile_module(prepared, ctx, str(Path(tmp) / "model.so"))
                    report = timing.render() if args.passes else ""
                total = time.perf_counter() - start
                kernels, calls = _kernels_and_calls(prepared)
                stages = ctx.info.get("build_stages_s", {})
                name = f"{precision}:{algorithm}" + (f" ({label})" if label else "")
                print(
                    f"{name:28s} "
                    + " ".join(f"{stages.get(s, 0.0):11.2f}" for s in STAGES)
                    + f" {total:7.2f} {f'{kernels}/{calls}':>13s}",
                    flush=True,
                )
                for pass_name, seconds in _slowest_passes(report, args.passes):
                    print(f"{'':28s}   {seconds:6.2f} s  {pass_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
