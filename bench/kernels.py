"""Where one of dse's builds spends its time: every kernel of the compiled model, timed in place.

Builds ``--model`` (random weights, batch 1, ``--size`` x ``--size``) untuned under
``--algorithm`` and ``--precision`` for the host, runs it ``--rounds`` times under the Relax VM's
instrument hook (each kernel call timed as it runs, between its neighbours, so its caches are
as the model leaves them), and prints each kernel's mean milliseconds per inference, how many
times it ran, and its share; then the kernels grouped by what they compute, and the model's own
``time_evaluator`` latency (the instrument's Python calls add a few microseconds per kernel:
compare kernels with each other, and the whole with the last line).

    python -m bench.kernels --model mobilenet_v2 --precision int8 [--algorithm spatial_pack]
        [--threads 1] [--size 224] [--top 25] [--mcpu haswell]

This is how the closing notes of issue 13 found where the int8 and fp32 builds lost time
against OpenVINO (scalar loops, memory passes, latency chains); use it before changing a schedule.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def kind_of(kernel: str) -> str:
    """What a kernel computes, from its fused name: its anchor op with numbers stripped."""
    name = re.sub(r"^fused_", "", kernel)
    for anchor in ("dse_spatial_pack_dot", "dse_", "matmul", "max_pool2d", "avg_pool2d", "layout_transform", "vm."):
        if anchor in name:
            stem = name[name.index(anchor) :]
            return re.sub(r"\d+", "", stem.split("_cast")[0].split("_add")[0].split("_multiply")[0])
    return re.sub(r"\d+", "", name.split("_")[0])


def profile(vm: Any, x: Any, rounds: int) -> dict[str, list[float]]:
    """Seconds of every call per kernel name over ``rounds`` inferences (after 3 warm-ups)."""
    for _ in range(3):
        vm["main"](x)
    seconds: dict[str, list[float]] = defaultdict(list)
    started: dict[str, float] = {}

    def instrument(func: Any, name: str, before: bool, ret: Any, *args: Any) -> int:
        if before:
            started[name] = time.perf_counter()
        else:
            seconds[name].append(time.perf_counter() - started[name])
        return 0  # VMInstrumentReturnKind.NO_OP

    vm.set_instrument(instrument)
    try:
        for _ in range(rounds):
            vm["main"](x)
    finally:
        vm.set_instrument(lambda *_: 0)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--algorithm", default="spatial_pack")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=3, help="input channels (1: the digits' shape at --size 8)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--top", type=int, default=25, help="kernels listed (default 25)")
    parser.add_argument(
        "--mcpu", help="LLVM CPU to build for instead of this one's, one it can run (haswell: the AVX2 code)"
    )
    args = parser.parse_args(argv)
    os.environ["TVM_NUM_THREADS"] = str(args.threads)  # before TVM's runtime starts
    os.environ.setdefault("DSE_NO_PROGRESS", "1")
    import torch
    import tvm
    from tvm import relax

    from bench._common import host_context, machine_line, random_images, trial_config
    from objectives.compile import compile_module, prepare_module
    from search_spaces.models import build_model

    torch.set_num_threads(args.threads)
    print(machine_line(args.threads), flush=True)
    with tempfile.TemporaryDirectory(prefix="dse-kernels-") as tmp:
        data = random_images(args.size, args.classes, args.channels)
        ctx = host_context(Path(tmp), args.threads, data, args.mcpu)
        torch.manual_seed(0)
        model = build_model(args.model, args.classes, (args.channels, args.size, args.size)).eval()
        config = trial_config(args.model, args.precision, "tvm", args.algorithm)
        library = str(Path(tmp) / "model.so")
        compile_module(prepare_module(config, model, ctx), ctx, library)
        vm = relax.VirtualMachine(tvm.runtime.load_module(library), tvm.cpu())
        x = tvm.runtime.tensor(data.eval_x[:1].numpy())
        seconds = profile(vm, x, args.rounds)
        whole_ms = vm.time_evaluator("main", tvm.cpu(), number=10, repeat=5)(x).median * 1e3
    per_inference = {name: sum(s) / args.rounds * 1e3 for name, s in seconds.items()}
    total = sum(per_inference.values())
    print(
        f"{args.model} {args.precision} {args.algorithm} for {ctx.tvm_target.attrs.get('mcpu')}: "
        f"build stages (s) {ctx.info.get('build_stages_s')}"
    )
    print(f"{'ms':>8} {'calls':>5} {'share':>6}  kernel")
    for name, ms in sorted(per_inference.items(), key=lambda item: -item[1])[: args.top]:
        print(f"{ms:8.3f} {len(seconds[name]) // args.rounds:5d} {ms / total:6.1%}  {name}")
    kinds: Counter[str] = Counter()
    for name, ms in per_inference.items():
        kinds[kind_of(name)] += ms
    print("by kind: " + ", ".join(f"{kind} {ms:.3f}" for kind, ms in kinds.most_common()))
    print(f"sum of kernels {total:.3f} ms; the model's time_evaluator median {whole_ms:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
