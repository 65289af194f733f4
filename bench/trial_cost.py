"""What one trial costs, step by step, and how untuned TVM compares with PyTorch eager.

For a default model on the embedded digits data, evaluates the untuned baseline (and the
other algorithms asked for) through the real engine: compile s, accuracy-eval s, measure s,
a second evaluation served by the cache, and the TVM / PyTorch eager latency ratio at the same
thread count, all in one run.

    python -m bench.trial_cost [--model resnet18] [--algorithms tvm_default,spatial_pack] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--algorithms", default="tvm_default,im2col_gemm,spatial_pack")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--eval-limit", type=int, default=None)
    args = parser.parse_args()
    os.environ["TVM_NUM_THREADS"] = str(args.threads)
    from bench._common import machine_line

    print(machine_line(args.threads), flush=True)

    from dse.core.config import MeasureConfig, SpaceConfig, StudyConfig
    from dse.evaluator import Evaluator
    from dse.worker import IsolatedRunner
    from objectives.latency import torch_eager_latency
    from search_spaces import BASELINE, LayerChoice, TrialConfig
    from search_spaces.datasets import load_dataset
    from search_spaces.models import WeightsSpec, build_model, load_weights, resolve_weights

    data = load_dataset("digits", None, args.eval_limit)
    weights = resolve_weights(args.model, "digits", data, WeightsSpec("train", Path("studies/weights").resolve()))
    model = load_weights(build_model(args.model, data.num_classes, data.input_shape), weights)
    eager_ms = torch_eager_latency(model, data.eval_x[:1], MeasureConfig(), args.threads).median_ms

    header = (
        f"{'algorithm':14s} {'compile_s':>9s} {'accuracy_s':>10s} {'measure_s':>9s} {'cache_hit_s':>11s} "
        f"{'tvm_ms':>8s} {'torch_ms':>8s} {'tvm/torch':>9s} {'accuracy':>8s}"
    )
    print(f"model={args.model} dataset=digits eval_size={len(data.eval_y)} threads={args.threads}")
    print(header)
    with tempfile.TemporaryDirectory(prefix="dse-bench-") as work:
        config = StudyConfig(
            target="x86",
            dataset="digits",
            space=SpaceConfig(models=(args.model,)),
            storage="sqlite://",
            study_name="bench",
            work_dir=Path(work),
            threads=args.threads,
            eval_limit=args.eval_limit,
        )
        runner = IsolatedRunner.with_threads(args.threads)
        evaluator = Evaluator(config, {args.model: weights}, runner)
        try:
            for algorithm in args.algorithms.split(","):
                trial = TrialConfig(
                    "digits", args.model, target="x86", **{**BASELINE, "algorithm": LayerChoice(algorithm)}
                )
                result, _ = evaluator.evaluate(trial)
                start = time.perf_counter()
                _, hit = evaluator.evaluate(trial)
                hit_s = time.perf_counter() - start
                if not result.ok or result.latency is None:
                    print(f"{algorithm:14s} failed: {result.error_kind} {result.error_message}")
                    continue
                t = result.timings_s
                tvm_ms = result.latency.median_ms
                print(
                    f"{algorithm:14s} {t['compile']:9.2f} {t['accuracy']:10.2f} {t['measure']:9.2f} "
                    f"{hit_s:11.4f} {tvm_ms:8.3f} {eager_ms:8.3f} {tvm_ms / eager_ms:9.2f} {result.accuracy:8.4f}"
                    + ("" if hit else "  (cache miss on repeat!)")
                )
        finally:
            runner.close()


if __name__ == "__main__":
    main()
