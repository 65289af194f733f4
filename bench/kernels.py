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
        [--tuning-trials 64 --tuning-db DIR]

With ``--tuning-trials N`` it also builds the same configuration with MetaSchedule at N trials
per kernel (records in ``--tuning-db``, kept there so a second run reuses them) and prints each
kernel in place, untuned beside tuned, with what the tuner measured of it alone (its best record
and the default schedule): the place to look when a tuned build loses to its untuned one.

This is how the closing notes of issue 13 found where the int8 and fp32 builds lost time
against OpenVINO (scalar loops, memory passes, latency chains); use it before changing a schedule.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
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


def build(config: Any, model: Any, ctx: Any, library: str) -> Any:
    """Build ``config`` into ``library``; its Relax VM."""
    import tvm
    from tvm import relax

    from objectives.compile import compile_module, prepare_module

    compile_module(prepare_module(config, model, ctx), ctx, library)
    return relax.VirtualMachine(tvm.runtime.load_module(library), tvm.cpu())


def measure(vm: Any, x: Any, rounds: int) -> tuple[dict[str, list[float]], float]:
    """Each kernel's seconds per call in place, and the model's ``time_evaluator`` median (ms)."""
    import tvm

    seconds = profile(vm, x, rounds)
    return seconds, vm.time_evaluator("main", tvm.cpu(), number=10, repeat=5)(x).median * 1e3


def measure_alternately(
    vms: list[Any], x: Any, rounds: int, passes: int
) -> list[tuple[dict[str, list[float]], list[float]]]:
    """:func:`measure` of each VM in turn, ``passes`` times (``bench._common.in_turn``). Per VM,
    every pass's kernel seconds and each pass's model median (ms)."""
    import functools

    from bench._common import in_turn

    measured = []
    for runs in in_turn([functools.partial(measure, vm, x, rounds) for vm in vms], passes):
        seconds: defaultdict[str, list[float]] = defaultdict(list)
        for each, _ in runs:
            for name, times in each.items():
                seconds[name].extend(times)
        measured.append((dict(seconds), [whole_ms for _, whole_ms in runs]))
    return measured


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
    parser.add_argument("--tuning-trials", type=int, help="also build with MetaSchedule at N trials per kernel")
    parser.add_argument("--tuning-db", type=Path, help="where the tuning records go and stay (with --tuning-trials)")
    parser.add_argument("--passes", type=int, default=3, help="alternations of untuned and tuned (default 3)")
    args = parser.parse_args(argv)
    if (args.tuning_trials is None) != (args.tuning_db is None):
        parser.error("--tuning-trials and --tuning-db go together: pass both or neither")
    os.environ["TVM_NUM_THREADS"] = str(args.threads)  # before TVM's runtime starts
    os.environ.setdefault("DSE_NO_PROGRESS", "1")
    import torch
    import tvm

    from bench._common import host_context, machine_line, random_images, trial_config
    from search_spaces.models import build_model

    torch.set_num_threads(args.threads)
    print(machine_line(args.threads), flush=True)
    with tempfile.TemporaryDirectory(prefix="dse-kernels-") as tmp:
        data = random_images(args.size, args.classes, args.channels)
        ctx = host_context(Path(tmp), args.threads, data, args.mcpu)
        torch.manual_seed(0)
        model = build_model(args.model, args.classes, (args.channels, args.size, args.size)).eval()
        x = tvm.runtime.tensor(data.eval_x[:1].numpy())
        config = trial_config(args.model, args.precision, "tvm", args.algorithm)
        vms = [build(config, model, ctx, str(Path(tmp) / "model.so"))]
        stages = ctx.info.get("build_stages_s")
        if args.tuning_trials:
            ctx.info.clear()
            ctx.tuning_db = args.tuning_db
            config = trial_config(args.model, args.precision, "tvm", args.algorithm, args.tuning_trials)
            vms.append(build(config, model, ctx, str(Path(tmp) / "tuned.so")))
            tuned_info = dict(ctx.info)
        passes = args.passes if args.tuning_trials else 1
        measured = measure_alternately(vms, x, args.rounds, passes)
        rounds = args.rounds * passes
    print(
        f"{args.model} {args.precision} {args.algorithm} for {ctx.tvm_target.attrs.get('mcpu')}: "
        f"build stages (s) {stages}"
    )
    seconds, whole = measured[0]
    whole_ms = statistics.median(whole)
    per_inference = _per_inference(seconds, rounds)
    if not args.tuning_trials:
        _print_kernels(per_inference, seconds, rounds, args.top)
        print(
            f"sum of kernels {sum(per_inference.values()):.3f} ms; the model's time_evaluator median {whole_ms:.3f} ms"
        )
        return 0
    tuned_seconds, tuned = measured[1]
    tuned_ms = statistics.median(tuned)
    print(f"measured alternately, untuned then tuned, {args.passes} times ({rounds} inferences each)")
    _print_tuned_beside_untuned(
        per_inference, _per_inference(tuned_seconds, rounds), tuned_info, args.tuning_db, args.tuning_trials
    )
    ratio = statistics.median(t / u for t, u in zip(tuned, whole, strict=True))  # pass by pass: seconds apart
    print(
        f"time_evaluator median of the passes: untuned {whole_ms:.3f} ms, tuned {tuned_ms:.3f} ms; "
        f"tuned / untuned x{ratio:.3f} (the median pass); per pass: untuned {', '.join(f'{m:.3f}' for m in whole)}, "
        f"tuned {', '.join(f'{m:.3f}' for m in tuned)}"
    )
    return 0


def _per_inference(seconds: dict[str, list[float]], rounds: int) -> dict[str, float]:
    return {name: sum(s) / rounds * 1e3 for name, s in seconds.items()}


def _print_kernels(per_inference: dict[str, float], seconds: dict[str, list[float]], rounds: int, top: int) -> None:
    total = sum(per_inference.values())
    print(f"{'ms':>8} {'calls':>5} {'share':>6}  kernel")
    for name, ms in sorted(per_inference.items(), key=lambda item: -item[1])[:top]:
        print(f"{ms:8.3f} {len(seconds[name]) // rounds:5d} {ms / total:6.1%}  {name}")
    kinds: defaultdict[str, float] = defaultdict(float)
    for name, ms in per_inference.items():
        kinds[kind_of(name)] += ms
    print("by kind: " + ", ".join(f"{kind} {ms:.3f}" for kind, ms in sorted(kinds.items(), key=lambda item: -item[1])))


def _print_tuned_beside_untuned(
    untuned: dict[str, float], tuned: dict[str, float], info: dict[str, Any], tuning_db: Path, budget: int
) -> None:
    """Every kernel in place, untuned and tuned (ms per inference), the worst losses first, with
    what the tuner timed of it alone (us: its best record, the default schedule)."""
    from search_spaces.tuning.metaschedule import attempts_by_task

    alone = attempts_by_task(tuning_db, budget)
    chosen = info.get("tuning_records") or {}
    print(
        f"tuned kernels {info.get('tuned_kernels')} of {info.get('total_kernels')}, "
        f"default kept for {len(info.get('default_kept_kernels', []))}; tuning {info.get('tuning_s')} s"
    )
    print(f"{'untuned':>8} {'tuned':>8} {'x':>6} {'alone: record us':>17} {'default us':>10}  kernel")
    rows = sorted(set(untuned) | set(tuned), key=lambda name: untuned.get(name, 0.0) - tuned.get(name, 0.0))
    for name in rows:
        before, after = untuned.get(name, 0.0), tuned.get(name, 0.0)
        entry = alone.get(name, {})
        record = entry.get("tuned_s")
        default = entry.get("default_s")
        decision = chosen.get(entry.get("workload", ""))
        mark = "" if not decision else " (default kept)" if decision.get("kept_default") else " (tuned)"
        print(
            f"{before:8.3f} {after:8.3f} {after / before if before else float('nan'):6.2f} "
            f"{record * 1e6 if record else float('nan'):17.1f} {default * 1e6 if default else float('nan'):10.1f}  "
            f"{name}{mark}"
        )
    print(f"sum of kernels: untuned {sum(untuned.values()):.3f} ms, tuned {sum(tuned.values()):.3f} ms")


if __name__ == "__main__":
    sys.exit(main())
