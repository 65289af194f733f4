"""Layer 3 side by side: every compression technique on one model, compiled and measured in one run.

For one CIFAR-style model (default: ResNet-18 with the small-input stem) on the embedded
``digits`` data set, each configuration below goes through the real trial pipeline
(``objectives.evaluate``: prune -> export -> precision rewrite -> layer 4/5 -> tvm.compile ->
accuracy of the compiled module over the evaluation split -> time_evaluator latency), one after
the other in this process, and one table is printed: technique, parameters, accuracy (and its
drop against the uncompressed baseline), median latency, speedup against the baseline,
parameters (total / non-zero), achieved sparsity, artifact size.

Fine-tuned weights are cached under ``--work-dir`` (the same configuration is never trained
twice), so a second run only compiles and measures.

Example (smoke run, tiny settings)::

    TVM_NUM_THREADS=2 python bench/compression.py --model tiny_cnn --finetune-epochs 1 \
        --eval-limit 100 --repeat 3 --min-repeat-ms 10

Real numbers: run it alone on a quiet machine (every row says the thread count).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def configurations(finetune_epochs: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pruning, precision) pairs measured, baseline first: every technique alone, then combined."""
    ft = finetune_epochs
    none, fp32 = {"name": "none"}, {"name": "fp32"}
    return [
        (none, fp32),
        ({"name": "magnitude", "sparsity": 0.5, "scope": "global", "finetune_epochs": 0}, fp32),
        ({"name": "magnitude", "sparsity": 0.9, "scope": "global", "finetune_epochs": 0}, fp32),
        ({"name": "magnitude", "sparsity": 0.9, "scope": "global", "finetune_epochs": ft}, fp32),
        ({"name": "channel", "ratio": 0.25, "finetune_epochs": ft}, fp32),
        ({"name": "channel", "ratio": 0.5, "finetune_epochs": 0}, fp32),
        ({"name": "channel", "ratio": 0.5, "finetune_epochs": ft}, fp32),
        (none, {"name": "int8", "calibration": "max"}),
        (none, {"name": "int8", "calibration": "percentile"}),
        (none, {"name": "fp16", "accumulate": "float32"}),
        (none, {"name": "fp16", "accumulate": "float16"}),
        (
            {"name": "magnitude", "sparsity": 0.9, "scope": "global", "finetune_epochs": ft},
            {"name": "int8", "calibration": "percentile"},
        ),
        ({"name": "channel", "ratio": 0.5, "finetune_epochs": ft}, {"name": "int8", "calibration": "percentile"}),
    ]


def parse_choice(text: str) -> dict[str, Any]:
    """``spatial_pack`` or ``im2col_gemm:layout=nhwc`` -> {"name": ..., params...} (numbers parsed)."""
    name, _, rest = text.partition(":")
    choice: dict[str, Any] = {"name": name}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            choice[key] = json.loads(value)
        except json.JSONDecodeError:
            choice[key] = value
    return choice


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", help="registered model (default: resnet18)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument(
        "--algorithm",
        default="tvm_default",
        help="layer 4 choice, e.g. spatial_pack or im2col_gemm:layout=nhwc (default: tvm_default)",
    )
    parser.add_argument("--finetune-epochs", type=int, default=2, help="recovery epochs of the fine-tuned rows")
    parser.add_argument("--eval-limit", type=int, default=None, help="evaluation images (default: all)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("TVM_NUM_THREADS", "2")))
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--min-repeat-ms", type=int, default=100)
    parser.add_argument("--work-dir", type=Path, default=Path("studies"), help="weights and fine-tune caches")
    parser.add_argument("--only", type=int, nargs="*", help="row indices to run (0 = baseline, always run)")
    parser.add_argument("--json", type=Path, help="also write every result record here")
    args = parser.parse_args(argv)
    os.environ["TVM_NUM_THREADS"] = str(args.threads)  # before tvm loads: TVM and torch at the same threads
    from bench._common import machine_line

    print(machine_line(args.threads), flush=True)

    from dse.core.config import DeviceOptions, MeasureConfig
    from objectives.evaluate import evaluate
    from objectives.request import EvaluationRequest
    from search_spaces import BASELINE, LayerChoice, TrialConfig
    from search_spaces.datasets import load_dataset
    from search_spaces.models import WeightsSpec, resolve_weights

    data = load_dataset(args.dataset, None, args.eval_limit)
    weights = resolve_weights(args.model, args.dataset, data, WeightsSpec("train", args.work_dir / "weights"))
    algorithm = parse_choice(args.algorithm)
    base = replace(
        TrialConfig(args.dataset, args.model, target="x86", **BASELINE),
        algorithm=LayerChoice.of(algorithm.pop("name"), algorithm),
    )
    measure = MeasureConfig(repeat=args.repeat, min_repeat_ms=args.min_repeat_ms)
    rows = configurations(args.finetune_epochs)
    wanted = sorted({0, *(args.only if args.only is not None else range(len(rows)))})

    print(
        f"# {args.model} on {args.dataset} ({len(data.eval_y)} eval images), algorithm={base.algorithm.label()}, "
        f"tuning={base.tuning.label()}, TVM_NUM_THREADS={args.threads}, x86 host",
        flush=True,
    )
    results = []
    for index in wanted:
        pruning, precision = (dict(choice) for choice in rows[index])
        config = replace(
            base,
            pruning=LayerChoice.of(pruning.pop("name"), pruning),
            precision=LayerChoice.of(precision.pop("name"), precision),
        )
        start = time.perf_counter()
        result = evaluate(
            EvaluationRequest(
                config, weights, None, args.eval_limit, args.work_dir, args.threads, measure, DeviceOptions()
            )
        )
        print(
            f"  [{index}] {config.pruning.label()} + {config.precision.label()}: "
            f"{'ok' if result.error_message is None else result.error_message} "
            f"({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        results.append((index, config, result))
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps([{"row": i, **r.__dict__} for i, _, r in results], default=str, indent=1))
    return 0


def format_table(results: list[tuple[int, Any, Any]]) -> str:
    """The side-by-side table; accuracy drop and speedup are against row 0 (the baseline)."""
    baseline = results[0][2]
    header = (
        "#",
        "pruning",
        "precision",
        "accuracy",
        "drop",
        "latency ms",
        "cv",
        "speedup",
        "params",
        "nonzero",
        "sparsity",
        "artifact KB",
    )
    lines = [header]
    for index, config, r in results:
        info = r.info or {}
        if r.error_message is not None:
            lines.append(
                (
                    str(index),
                    config.pruning.label(),
                    config.precision.label(),
                    "failed: " + r.error_message,
                    *[""] * (len(header) - 4),
                )
            )
            continue
        latency = r.latency.median_ms if r.latency else float("nan")
        base_latency = baseline.latency.median_ms if baseline.latency else float("nan")
        drop = (baseline.accuracy - r.accuracy) if baseline.accuracy is not None else float("nan")
        lines.append(
            (
                str(index),
                config.pruning.label(),
                config.precision.label(),
                f"{r.accuracy:.4f}",
                f"{drop:+.4f}",
                f"{latency:.3f}",
                f"{r.latency.cv:.1%}" if r.latency else "",
                f"{base_latency / latency:.2f}x",
                str(info.get("param_count", "")),
                str(info.get("nonzero_params", "")),
                f"{info.get('achieved_sparsity', 0.0):.3f}",
                f"{(r.artifact_bytes or 0) / 1024:.0f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines)


if __name__ == "__main__":
    raise SystemExit(main())
