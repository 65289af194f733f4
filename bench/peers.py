"""dse's builds beside what a user would otherwise ship with, side by side in one run.

For each model (random weights, batch 1, ``--size`` x ``--size``, every thread given by
``--threads``): PyTorch eager, torch.compile, ONNX Runtime fp32 and int8 (static QDQ),
OpenVINO fp32 and int8 (NNCF), and dse's TVM builds, untuned, under each algorithm of
``--algorithms`` (fp32 and int8; the fastest is "dse best"). Everything is built first, then
timed in turn, one system after another, ``--passes`` (3) over all of them; each reports the median
of its passes. This machine has slow spells, seconds to minutes long, in which everything runs at
half speed (the same library, timed over and over in one process, read 4.0 or 8.0 ms by turns):
timed once each, a system's number was the spell it fell in. Every latency is taken with dse's
own protocol (``dse.core.measure``: warm-up, samples of at least ``--min-repeat-ms``, median),
the ONNX Runtime and OpenVINO ones through the same code a ``--runtimes`` trial uses, so these
numbers and a study's agree. Printed as ms, as a ratio to OpenVINO at the same precision, as
GFLOP/s and as a share of the CPU's peak at that precision (float32 measured by independent
FMA chains on every thread; where that cannot run, vector width x ``--fma-units`` per core x
the clock /proc/cpuinfo reports; how is printed), with build
(compile or quantize) seconds. ``--algorithms`` names ``per_layer`` by default (each layer's fastest
algorithm, timed during its build: its build seconds include that timing; on ResNet-18 fp32 it
is dse's best, Winograd on the stride-1 3x3 layers down to 14x14).

    python -m bench.peers --threads 2 [--models resnet18,mobilenet_v2,shufflenet_v2_x1_0]
        [--size 224] [--channels 3] [--algorithms per_layer,spatial_pack,direct,im2col_gemm] [--json FILE]

``--tuning-trials N`` also builds each of ``--algorithms`` (or of ``--tuned-algorithms``, for the
``--tuned-models`` and ``--tuned-precisions``, default all) with MetaSchedule at N trials per kernel: the search starts from dse's default schedule, and per
kernel the faster of the tuned and the default schedule is kept. It tunes into the run's own
database, or into ``--tuning-db DIR``, kept and reused by a later run (whose build seconds then
leave the tuning out). Each tuned build is printed beside its untuned one as the median of
their per-pass ratios (the two timings of a pass are seconds apart).

``--pairs N`` then settles the comparisons the issue's bars are about: dse's best build of each
model and precision against OpenVINO and (fp32) PyTorch eager, and each tuned build against its
untuned one, each in N pairs of short timings back to back (5 samples of >= 20 ms each; which
goes first alternates; the comparisons take turns pair by pair, so each one's pairs spread over
the whole run), printed as the median of the pairs' ratios with its distribution-free 95%
interval and the pairs won. Two timings seconds apart meet different spells often enough that a
9-pass median ratio moved 5-10% between runs; a short pair meets one.

``--mcpu haswell`` builds dse's code for another x86 CPU this one can run (there: AVX2, no
AVX-512); with ``ONEDNN_MAX_CPU_ISA=AVX2`` in the environment OpenVINO and PyTorch (oneDNN) keep
to AVX2 too, so an AVX-512 machine stands in for an AVX2 one (ONNX Runtime's MLAS does not
follow it, and the share of peak stays the host's).

``--size 8 --channels 1`` times the digits' shape, to set beside a study's trials;
``--against-study STORAGE --study-name NAME`` then prints, for every uncompressed untuned trial
of that study whose (model, runtime, precision, algorithm) this run timed, the trial's latency
beside this run's, each with its sample standard deviation, and whether they agree (the
difference within twice their combined standard deviation, or within 5%: a machine's speed
drifts by a few percent between runs, which neither measurement's own spread shows).

``--json FILE`` writes one object per (model, system, precision) with keys ``model``,
``system`` (torch_eager, torch_compile, onnxruntime, openvino, dse), ``precision``, ``ms``,
``compile_s``, ``std_ms`` (the samples' standard deviation, the median pass's), ``passes_ms``
(each pass's median), ``best_ms`` (the fastest pass), ``gflop_per_s``, ``share_of_peak``, for
dse ``config``, and with ``--pairs`` on the first build of each comparison ``head_to_head``
(``against``, ``pairs``, ``median_ratio``, ``ci95``, ``a_faster``). The table shows ``ms`` and ``best_ms``, each as a ratio to OpenVINO's: on a
machine with slow spells the fastest pass is each system's speed outside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


#: Every system is timed once per pass (``--passes``), all in turn, and reports the median of its passes.
PASSES = 3
#: Seconds between two timings: the thread pools of the system timed before (PyTorch's OpenMP,
#: ONNX Runtime's and OpenVINO's) stop spinning first.
SETTLE_S = 0.3


@dataclass
class Entry:
    """One built system of the run: its row (without timings yet), and how to time it once."""

    row: dict[str, Any]
    gflop: float
    #: One timing under a latency protocol (a ``MeasureConfig``): its ``LatencyStats``.
    time: Callable[[Any], Any]


def _torch(model: Any, data: Any, threads: int, compiled: bool) -> tuple[Callable[[Any], Any], float]:
    import torch

    from objectives.latency import torch_eager_latency

    start = time.perf_counter()
    if compiled:
        model = torch.compile(model)
        with torch.inference_mode():
            model(data.eval_x)  # compiles here, not in the timing
    build_s = time.perf_counter() - start
    return lambda measure: torch_eager_latency(model, data.eval_x[:1], measure, threads), build_s


def _runtime(model: Any, config: Any, ctx: Any, folder: Path) -> tuple[Callable[[Any], Any], float]:
    from objectives.compile import load_on_runtime
    from objectives.latency import measure_latency

    start = time.perf_counter()
    loaded = load_on_runtime(config, model, ctx, folder)
    build_s = time.perf_counter() - start
    return lambda measure: measure_latency(loaded, ctx.data, measure), build_s


def _tvm(model: Any, config: Any, ctx: Any, library: Path) -> tuple[Callable[[Any], Any], float]:
    from objectives.compile import compile_module, prepare_module
    from objectives.latency import measure_latency
    from search_spaces.targets.devices.local import LocalDevice

    start = time.perf_counter()
    compile_module(prepare_module(config, model, ctx), ctx, str(library))
    build_s = time.perf_counter() - start
    loaded = LocalDevice("cpu").load(str(library))
    return lambda measure: measure_latency(loaded, ctx.data, measure), build_s


def _entry(
    model: str,
    gflop: float,
    system: str,
    precision: str,
    built: tuple[Callable[[Any], Any], float],
    config: str | None = None,
) -> Entry:
    time_with, build_s = built
    row: dict[str, Any] = {"model": model, "system": system, "precision": precision, "compile_s": build_s}
    if config is not None:
        row["config"] = config
    print(f"  built {model} {system} {precision}{' ' + config if config else ''} in {build_s:.1f} s", flush=True)
    return Entry(row, gflop, time_with)


def _time_in_turn(entries: list[Entry], measure: Any, passes: int = PASSES) -> list[dict[str, Any]]:
    """Time every entry once per pass, all in turn, ``passes`` times; their rows with the median of
    the passes' medians (``ms``), each pass's (``passes_ms``) and the median pass's spread.

    This shared machine has slow spells, seconds to minutes long, in which multi-threaded
    inference runs at up to half speed (the same library, timed over and over in one process,
    read 4.0 or 8.0 ms by turns; both threads on their own vCPU throughout, and two one-thread
    matrix products on the two vCPUs kept their speed meanwhile: what slows is the threads'
    work together, not either vCPU). Timed one after the other, a system's number was the spell
    it fell in; timed in turn, every system meets the spells alike, though a spell shorter than
    a pass still falls on some systems of it and not others: hence also the fastest pass."""
    import functools
    import statistics

    from bench._common import in_turn

    rows = []
    timed = in_turn([functools.partial(entry.time, measure) for entry in entries], passes, SETTLE_S)
    for entry, stats in zip(entries, timed, strict=True):
        medians = [each.median_ms for each in stats]
        ms = statistics.median(medians)
        row = {**entry.row, "ms": ms, "passes_ms": medians, "best_ms": min(medians)}
        row["std_ms"] = statistics.median(s.std_ms for s in stats)
        rows.append({**row, "gflop_per_s": entry.gflop / (ms / 1000)})
    return rows


def _gflop(model: Any, x: Any) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--models", default="resnet18,mobilenet_v2,shufflenet_v2_x1_0")
    parser.add_argument("--size", type=int, default=224, help="input height and width (default 224)")
    parser.add_argument("--channels", type=int, default=3, help="input channels (1: the digits' shape at --size 8)")
    parser.add_argument("--classes", type=int, help="output classes (default: 1000 above 64 px, else 10)")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="threads of every system (default: all)"
    )
    parser.add_argument(
        "--algorithms", default="per_layer,spatial_pack,direct,im2col_gemm", help="dse's untuned algorithms"
    )
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--systems", default="torch_eager,torch_compile,onnxruntime,openvino,dse")
    parser.add_argument(
        "--tuning-trials", type=int, help="also build each algorithm with MetaSchedule at N trials per kernel"
    )
    for flag in ("algorithms", "models", "precisions"):
        parser.add_argument(f"--tuned-{flag}", help=f"which of --{flag} --tuning-trials tunes (default: all of them)")
    parser.add_argument(
        "--tuning-db", type=Path, help="keep the tuning records here, and reuse those it has (default: this run's own)"
    )
    parser.add_argument("--mcpu", help="LLVM CPU dse builds for instead of this one (one it can run: haswell)")
    parser.add_argument(
        "--passes", type=int, default=PASSES, help=f"timings of each system, in turn (default {PASSES})"
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="then time dse's best against OpenVINO and eager, and each tuned build against its untuned one, "
        "in N short pairs back to back (default 0: none)",
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--min-repeat-ms", type=int, default=100)
    parser.add_argument(
        "--fma-units",
        type=int,
        default=2,
        help="FMA units per core for the peak where it cannot be measured (default 2)",
    )
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--against-study", metavar="STORAGE", help="a study's storage URL: set its trials beside")
    parser.add_argument("--study-name", help="the study in --against-study (default: its only one)")
    args = parser.parse_args(argv)
    os.environ["TVM_NUM_THREADS"] = str(args.threads)  # before TVM's runtime starts
    os.environ.setdefault("DSE_NO_PROGRESS", "1")
    import torch

    from bench._common import host_context, machine_line, peak_gflops, random_images, trial_config
    from dse.core.config import MeasureConfig
    from search_spaces.models import build_model

    torch.set_num_threads(args.threads)
    print(machine_line(args.threads), flush=True)
    if args.mcpu:
        isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "all")
        print(f"dse builds for mcpu {args.mcpu}; oneDNN (OpenVINO, PyTorch) ISA limit: {isa}", flush=True)
    peak = peak_gflops(args.threads, args.fma_units)
    print(f"peak: {peak[1]}" if peak else "peak: neither measured nor reported; no share of peak", flush=True)
    measure = MeasureConfig(repeat=args.repeat, min_repeat_ms=args.min_repeat_ms)
    systems, precisions = args.systems.split(","), args.precisions.split(",")
    tuned = {
        flag: set((getattr(args, f"tuned_{flag}") or getattr(args, flag)).split(","))
        for flag in ("algorithms", "models", "precisions")
    }
    classes = args.classes or (1000 if args.size > 64 else 10)
    entries: list[Entry] = []
    with tempfile.TemporaryDirectory(prefix="dse-peers-") as tmp:
        folder = Path(tmp)
        data = random_images(args.size, classes, args.channels)
        ctx = host_context(folder, args.threads, data, args.mcpu)
        if args.tuning_db is not None:
            ctx.tuning_db = args.tuning_db
        for name in args.models.split(","):
            torch.manual_seed(0)
            model = build_model(name, classes, (args.channels, args.size, args.size)).eval()
            gflop = _gflop(model, data.eval_x)

            for system in ("torch_eager", "torch_compile"):
                if system in systems and "fp32" in precisions:
                    built = _torch(model, data, args.threads, system == "torch_compile")
                    entries.append(_entry(name, gflop, system, "fp32", built))
            for precision in precisions:
                for runtime in ("onnxruntime", "openvino"):
                    if runtime in systems:
                        config = trial_config(name, precision, runtime, "")
                        built = _runtime(model, config, ctx, folder)
                        entries.append(_entry(name, gflop, runtime, precision, built))
                if "dse" in systems:
                    for algorithm in args.algorithms.split(","):
                        config = trial_config(name, precision, "tvm", algorithm)
                        built = _tvm(model, config, ctx, folder / f"{name}-{precision}-{algorithm}.so")
                        entries.append(_entry(name, gflop, "dse", precision, built, f"{algorithm} untuned"))
                        wanted = (
                            algorithm in tuned["algorithms"]
                            and name in tuned["models"]
                            and precision in tuned["precisions"]
                        )
                        if args.tuning_trials and wanted:
                            config = trial_config(name, precision, "tvm", algorithm, args.tuning_trials)
                            library = folder / f"{name}-{precision}-{algorithm}-tuned.so"
                            label = f"{algorithm} metaschedule({args.tuning_trials})"
                            entries.append(
                                _entry(name, gflop, "dse", precision, _tvm(model, config, ctx, library), label)
                            )
        rows = _time_in_turn(entries, measure, args.passes)
        if args.pairs:
            _head_to_head(entries, rows, args.pairs)
    for row in rows:
        row["share_of_peak"] = row["gflop_per_s"] / peak[0][row["precision"]] if peak else None
    _print_table(rows)
    if args.tuning_trials:
        _print_tuned_vs_untuned(rows)
    if args.pairs:
        _print_head_to_head(rows)
    if args.against_study:
        _print_agreement(rows, args.against_study, args.study_name)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
        print(f"rows written to {args.json}")
    return 0


def _print_table(rows: list[dict[str, Any]]) -> None:
    """Per model and precision: every system, dse's best marked, and the ratio to OpenVINO."""
    print(
        f"\n{'model':20s} {'precision':9s} {'system':14s} {'config':24s} {'ms':>9s} {'x OV':>6s} {'best':>9s} "
        f"{'x OV':>6s} {'GFLOP/s':>8s} {'peak':>6s} {'build_s':>8s}"
    )
    keys = sorted({(r["model"], r["precision"]) for r in rows}, key=lambda k: (k[0], k[1] != "fp32"))
    for model, precision in keys:
        group = [r for r in rows if r["model"] == model and r["precision"] == precision]
        openvino = next((r for r in group if r["system"] == "openvino"), None)
        best = _best_dse(group)
        for r in group:
            ratio, best_ratio = (
                f"{r[key] / openvino[key]:6.2f}" if openvino else "     -" for key in ("ms", "best_ms")
            )
            system = "dse best" if r is best else r["system"]
            share = "     -" if r["share_of_peak"] is None else f"{r['share_of_peak']:6.1%}"
            print(
                f"{model:20s} {precision:9s} {system:14s} {r.get('config', ''):24s} {r['ms']:9.3f} {ratio} "
                f"{r['best_ms']:9.3f} {best_ratio} {r['gflop_per_s']:8.1f} {share} {r['compile_s']:8.1f}"
            )


def _print_tuned_vs_untuned(rows: list[dict[str, Any]]) -> None:
    """Each MetaSchedule build beside the untuned build of the same configuration, pass by pass
    (the two timings of a pass are seconds apart)."""
    import statistics

    print("\nMetaSchedule vs untuned (same model, precision and algorithm; < 1: tuning pays):")
    for tuned, untuned in _tuned_with_untuned(rows):
        r, base = rows[tuned], rows[untuned]
        ratios = [t / u for t, u in zip(r["passes_ms"], base["passes_ms"], strict=True)]
        print(
            f"  {r['model']:20s} {r['precision']:5s} {r['config']:32s} x{statistics.median(ratios):.3f}, the median "
            f"pass (passes: {', '.join(f'x{x:.3f}' for x in ratios)}; tuned {r['ms']:.3f} ms, untuned "
            f"{base['ms']:.3f}); build {r['compile_s']:.0f} s"
        )


#: Each timing of a head-to-head pair: short, so both of a pair fall in one spell of the machine.
PAIR_MEASURE = {"repeat": 5, "min_repeat_ms": 20}


def _comparisons(rows: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Which rows ``--pairs`` compares, as (row, row it is compared against): per model and
    precision dse's best against OpenVINO and (fp32) PyTorch eager, and each tuned build
    against its untuned one."""
    pairs = []
    tuned = _tuned_with_untuned(rows)
    for model, precision in sorted({(r["model"], r["precision"]) for r in rows}):
        group = [i for i, r in enumerate(rows) if r["model"] == model and r["precision"] == precision]
        best = _best_dse([rows[i] for i in group])
        if best is None:
            continue
        (at,) = [i for i in group if rows[i] is best]
        pairs += [(at, i) for i in group if rows[i]["system"] in ("openvino", "torch_eager")]
        pairs += [(a, b) for a, b in tuned if a in group]
    return pairs


def _best_dse(group: list[dict[str, Any]]) -> dict[str, Any] | None:
    """dse's fastest build (by its median pass) among the rows of one model and precision."""
    return min((r for r in group if r["system"] == "dse"), key=lambda r: r["ms"], default=None)


def _tuned_with_untuned(rows: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Each MetaSchedule build's row beside the untuned build's row of the same model, precision
    and algorithm (by index, in the rows' order)."""
    untuned = {
        (r["model"], r["precision"], r["config"].split()[0]): i
        for i, r in enumerate(rows)
        if r.get("config", "").endswith("untuned")
    }
    return [
        (i, untuned[(r["model"], r["precision"], r["config"].split()[0])])
        for i, r in enumerate(rows)
        if "metaschedule" in r.get("config", "")
    ]


def _head_to_head(entries: list[Entry], rows: list[dict[str, Any]], pairs: int) -> None:
    """Time each of :func:`_comparisons` in ``pairs`` short pairs back to back (``bench._common.head_to_head``);
    the first row of each gets ``head_to_head``: against whom, the median ratio, its 95% interval, wins."""
    from bench._common import head_to_head
    from dse.core.config import MeasureConfig

    measure = MeasureConfig(**PAIR_MEASURE)

    def timing(index: int) -> Callable[[], float]:
        return lambda: float(entries[index].time(measure).median_ms)

    compared = _comparisons(rows)
    print(f"  {pairs} pairs of each of {len(compared)} comparisons, taking turns", flush=True)
    found = head_to_head([(timing(a), timing(b)) for a, b in compared], pairs, SETTLE_S)
    for (a, b), each in zip(compared, found, strict=True):
        rows[a].setdefault("head_to_head", []).append({"against": _name(rows[b]), **each._asdict()})


def _name(row: dict[str, Any]) -> str:
    return " ".join(filter(None, [row["model"], row["precision"], row["system"], row.get("config")]))


def _print_head_to_head(rows: list[dict[str, Any]]) -> None:
    each = PAIR_MEASURE
    print(
        f"\nHead to head: pairs of timings back to back, which goes first alternating (each timing {each['repeat']} "
        f"samples of >= {each['min_repeat_ms']} ms); the median of a / b over the pairs, its 95% interval "
        "(distribution-free), and the pairs a won:"
    )
    for row in rows:
        for found in row.get("head_to_head", []):
            low, high = found["ci95"]
            print(
                f"  {_name(row)} / {found['against']}: x{found['median_ratio']:.3f} [{low:.3f}, {high:.3f}], "
                f"faster in {found['a_faster']} of {found['pairs']}"
            )


def _trial_key(config: dict[str, Any]) -> tuple[str, str, str, str | None] | None:
    """(model, system, precision, dse config) of an uncompressed untuned trial, as peers names it."""
    if config["pruning"]["name"] != "none" or config.get("tuning", {}).get("name") not in ("untuned", "n/a"):
        return None
    runtime = config.get("runtime", {}).get("name", "tvm")
    if runtime == "tvm":
        return config["model"], "dse", config["precision"]["name"], f"{config['algorithm']['name']} untuned"
    return config["model"], runtime, config["precision"]["name"], None


def _print_agreement(rows: list[dict[str, Any]], storage: str, study_name: str | None) -> None:
    """Each matching trial's latency beside this run's: the study and the benchmark time alike."""
    import optuna

    from dse.core.record import TrialRecord

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=storage)
    ours = {(r["model"], r["system"], r["precision"], r.get("config")): r for r in rows}
    print(f"\nAgainst the trials of study {study.study_name!r} (same model, runtime, precision, algorithm):")
    print(
        f"{'trial':>6s} {'model':20s} {'system':12s} {'precision':9s} {'trial ms':>16s} {'bench ms':>16s} {'ratio':>6s} agree"
    )
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        record = TrialRecord.of(trial)
        key = _trial_key(record.config or {})
        if key is None or key not in ours or not record.latency:
            continue
        bench = ours[key]
        trial_ms, trial_std = record.latency["median_ms"], record.latency["std_ms"]
        difference = abs(trial_ms - bench["ms"])
        agree = difference <= max(2 * (trial_std**2 + bench["std_ms"] ** 2) ** 0.5, 0.05 * bench["ms"])
        print(
            f"{trial.number:6d} {key[0]:20s} {key[1]:12s} {key[2]:9s} {trial_ms:9.3f}+-{trial_std:<6.3f} "
            f"{bench['ms']:9.3f}+-{bench['std_ms']:<6.3f} {trial_ms / bench['ms']:6.3f} {'yes' if agree else 'NO'}"
        )


if __name__ == "__main__":
    sys.exit(main())
