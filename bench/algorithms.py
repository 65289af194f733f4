"""Latency of every convolution algorithm x weight format x sparsity on real CNN conv shapes.

For each distinct conv of the chosen torchvision models (default: ResNet-18 and
MobileNetV2 at 224x224, batch 1), every algorithm is lowered, given its default schedule
("untuned"), compiled for the host CPU and timed with ``time_evaluator``; PyTorch's conv on
the same shape and thread count is the reference column. Sparse variants run at each
sparsity (unstructured magnitude pruning of that layer's weight, threshold 0 so the sparse
kernel is always used); dense algorithms ignore zeros, so they run once.

Example (smoke run, tiny settings)::

    python bench/algorithms.py --threads 2 --max-shapes 3 --repeat 2 --min-repeat-ms 5

Run it on a quiet machine for real numbers; every row says the thread count.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONFIGS: list[tuple[str, dict[str, Any], str]] = [  # (algorithm, params, label)
    ("tvm_default", {}, "tvm_default"),
    ("direct", {"layout": "nchw"}, "direct/nchw"),
    ("direct", {"layout": "nhwc"}, "direct/nhwc"),
    ("im2col_gemm", {"layout": "nchw"}, "im2col_gemm/nchw"),
    ("im2col_gemm", {"layout": "nhwc"}, "im2col_gemm/nhwc"),
    ("spatial_pack", {}, "spatial_pack"),
    ("winograd", {"tile": 4, "fallback": "spatial_pack"}, "winograd/F4"),
    ("sparse_direct", {"format": "csr"}, "sparse_direct/csr"),
    ("sparse_direct", {"format": "bsr", "block": 8}, "sparse_direct/bsr8"),
    ("sparse_gemm", {"format": "csr"}, "sparse_gemm/csr"),
    ("sparse_gemm", {"format": "bsr", "block": 8}, "sparse_gemm/bsr8"),
    ("sparse_spatial_pack", {}, "sparse_spatial_pack/bsr"),
]


def conv_shapes(model_name: str, size: int) -> list[tuple[int, ...]]:
    """Distinct (C, H, W, OC, k, stride, pad, dilation, groups) of a torchvision model's convs."""
    import torch
    import torchvision

    model = getattr(torchvision.models, model_name)(num_classes=10).eval()
    shapes: list[tuple[int, ...]] = []

    def hook(module: Any, inputs: Any, _: Any) -> None:
        _, c, h, w = inputs[0].shape
        shape = (
            c,
            h,
            w,
            module.out_channels,
            module.kernel_size[0],
            module.stride[0],
            module.padding[0],
            module.dilation[0],
            module.groups,
        )
        if shape not in shapes:
            shapes.append(shape)

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return shapes


def prune(w: Any, sparsity: float) -> Any:
    """Zero the ``sparsity`` fraction of smallest-magnitude weights (unstructured)."""
    import numpy as np

    if sparsity <= 0:
        return w
    out = w.copy()
    cut = np.quantile(np.abs(w), sparsity)
    out[np.abs(w) <= cut] = 0
    return out


def torch_ms(x: Any, w: Any, shape: tuple[int, ...], repeat: int, min_repeat_ms: float) -> float:
    import torch

    _, _, _, _, _, s, p, d, g = shape
    xt, wt = torch.tensor(x), torch.tensor(w)
    with torch.no_grad():

        def run() -> object:
            return torch.nn.functional.conv2d(xt, wt, None, s, p, d, g)

        run()
        start, number = time.perf_counter(), 0
        while (time.perf_counter() - start) * 1e3 < min_repeat_ms or number < 1:
            run()
            number += 1
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(number):
                run()
            times.append((time.perf_counter() - t0) / number * 1e3)
    return statistics.median(times)


def tvm_ms(
    alg: str,
    params: dict[str, Any],
    x: Any,
    w: Any,
    shape: tuple[int, ...],
    target: Any,
    repeat: int,
    min_repeat_ms: float,
) -> tuple[float | None, str]:
    """(median ms, what ran) of one algorithm on one shape; None and the error if it failed."""
    from search_spaces.algorithms import ALGORITHMS
    from search_spaces.algorithms import testing as T
    from search_spaces.algorithms.schedules import apply_default_schedules

    _, _, _, _, _, s, p, d, g = shape
    try:
        ctx = T.lowering_context(target)
        mod = ALGORITHMS.get(alg).lower(T.conv_module(x.shape, w, s, p, d, g), params, ctx)
        mod = apply_default_schedules(mod, target)
        vm = T.build(mod, target)
        used = ",".join(r["algorithm"] for r in ctx.info["algorithm_layers"])
        return T.time_ms(vm, x, repeat=repeat, min_repeat_ms=int(min_repeat_ms)), used
    except Exception as exc:  # noqa: BLE001  (a failed build is a row, not a crash)
        return None, f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,mobilenet_v2")
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    parser.add_argument("--sparsities", default="0,0.5,0.8,0.95")
    parser.add_argument("--algorithms", default="", help="comma-separated labels (default: all)")
    parser.add_argument("--max-shapes", type=int, default=0, help="first N shapes per model (0: all)")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--min-repeat-ms", type=float, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/algorithms.csv"))
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="TVM and PyTorch threads (default: all)"
    )
    args = parser.parse_args(argv)
    if args.threads <= 0:
        parser.error(f"--threads must be > 0, got {args.threads}")
    os.environ["TVM_NUM_THREADS"] = str(args.threads)  # before TVM's runtime starts: TVM and torch alike

    import numpy as np
    import torch

    from bench._common import machine_line
    from search_spaces.algorithms import testing as T

    threads = args.threads
    print(machine_line(threads), flush=True)
    torch.set_num_threads(threads)
    target = T.host_target(threads)
    wanted = set(filter(None, args.algorithms.split(",")))
    configs = [c for c in CONFIGS if not wanted or c[2] in wanted]
    sparsities = [float(s) for s in args.sparsities.split(",")]
    rows: list[dict[str, Any]] = []
    for model in args.models.split(","):
        shapes = conv_shapes(model, args.size)
        for shape in shapes[: args.max_shapes or None]:
            c, h, wd, oc, k, s, p, d, g = shape  # noqa: RUF059  (the benchmark table names every field)
            rng = np.random.default_rng(0)
            x = rng.standard_normal((1, c, h, wd)).astype("float32")
            dense_w = rng.standard_normal((oc, c // g, k, k)).astype("float32")
            label = f"{c}x{h}x{wd}->{oc} k{k} s{s} p{p} g{g}"
            for sparsity in sparsities:
                w = prune(dense_w, sparsity)
                ref = torch_ms(x, w, shape, args.repeat, args.min_repeat_ms)
                for alg, params, name in configs:
                    is_sparse = alg.startswith("sparse")
                    if not is_sparse and sparsity != sparsities[0]:
                        continue  # dense kernels do the same work at any sparsity
                    ms, used = tvm_ms(
                        alg, {**params, "threshold": 0.0}, x, w, shape, target, args.repeat, args.min_repeat_ms
                    )
                    row = {
                        "model": model,
                        "shape": label,
                        "config": name,
                        "sparsity": sparsity,
                        "tvm_ms": ms,
                        "torch_ms": ref,
                        "ran": used,
                        "threads": threads,
                    }
                    rows.append(row)
                    shown = f"{ms:9.3f}" if ms is not None else "   failed"
                    print(
                        f"{model:13s} {label:28s} {name:24s} sp={sparsity:<4} {shown} ms  "
                        f"torch {ref:8.3f} ms  [{used}]",
                        flush=True,
                    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["model"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {args.out} ({threads} threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
