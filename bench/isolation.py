"""Is a latency still the module's own when other dse work runs on the same CPU?

Compiles one fixed module, then, side by side in one run, times it (as a trial does: under
the device's measurement lock, ``objectives.latency.measure_stable``) alone and while a second
process works beside it: another worker evaluating trials (compiling, scoring, timing) with
the same or another ``--work-dir``, and MetaSchedule tuning another model, same or other
``--work-dir``. Alone and disturbed measurements alternate within each row: the second process
is paused between its evaluations (it finishes the one it is in, then waits) for an "alone"
measurement and resumed for a "disturbed" one, so a drift of the machine over minutes (this
VM's speed wanders by several percent) falls on both alike. A last control row times without
the lock, to show what the lock prevents. ``retaken`` counts measurements dse took again
because another process kept the CPU busy (``max_foreign_load``) or the samples were noisy.

    python -m bench.isolation [--threads 2] [--model resnet18] [--measurements 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

#: Background work: (name, what the second process does, whether it shares the --work-dir).
CASES = (
    ("worker compiling, same --work-dir", "compile", True),
    ("worker compiling, other --work-dir", "compile", False),
    ("MetaSchedule tuning, same --work-dir", "tune", True),
    ("MetaSchedule tuning, other --work-dir", "tune", False),
)
CONTROL = ("control: worker compiling, timed WITHOUT the lock", "compile", False)
#: Algorithms the background worker cycles through (each a fresh compile).
BACKGROUND_ALGORITHMS = ("im2col_gemm", "spatial_pack", "direct", "winograd", "tvm_default")


def _weights(model: str, folder: Path, data: Any) -> Any:
    """A random-initialised checkpoint of ``model`` (latency does not depend on the values)."""
    import torch

    from search_spaces.models import ResolvedWeights, build_model, file_sha256

    torch.manual_seed(0)
    path = folder / f"{model}.pt"
    torch.save(build_model(model, data.num_classes, data.input_shape).state_dict(), path)
    return ResolvedWeights(path, file_sha256(path))


def _request(model: str, work_dir: Path, threads: int, weights: Any, **layers: Any) -> Any:
    from dse.core.config import DeviceOptions, MeasureConfig
    from objectives.request import EvaluationRequest
    from search_spaces import BASELINE, TrialConfig

    config = TrialConfig("digits", model, target="x86", **{**BASELINE, **layers})
    return EvaluationRequest(
        config=config,
        weights=weights,
        data_dir=None,
        eval_limit=None,
        work_dir=work_dir,
        threads=threads,
        measure=MeasureConfig(),
        device=DeviceOptions(),
    )


def background(kind: str, work_dir: Path, threads: int, ready: Path) -> None:
    """The disturbing process: evaluate trials (or tune) until killed, as a real worker would.

    Between evaluations it obeys ``<ready>.pause``: while that file exists it writes
    ``<ready>.paused`` and sleeps (holding no lock), so the foreground can measure alone.
    """
    from objectives.evaluate import evaluate
    from search_spaces import LayerChoice
    from search_spaces.datasets import load_dataset

    data = load_dataset("digits", None)
    scratch = Path(tempfile.mkdtemp(prefix="dse-isolation-bg-"))
    model = "mobilenet_v2" if kind == "compile" else "tiny_cnn"
    weights = _weights(model, scratch, data)
    ready.write_text("ready")
    pause, paused = ready.with_suffix(".pause"), ready.with_suffix(".paused")
    for round_ in range(10_000):
        while pause.exists():
            paused.touch()
            time.sleep(0.1)
        paused.unlink(missing_ok=True)
        if kind == "compile":
            algorithm = LayerChoice(BACKGROUND_ALGORITHMS[round_ % len(BACKGROUND_ALGORITHMS)])
            request = _request(model, work_dir, threads, weights, algorithm=algorithm)
        else:  # a fresh tuning database each round: it really tunes every time
            request = _request(
                model,
                work_dir,
                threads,
                weights,
                algorithm=LayerChoice("im2col_gemm"),
                tuning=LayerChoice("metaschedule", (("trials", 16),)),
            )
            request = _replace_tuning_db(request, scratch / f"tuning-{round_}")
        result = evaluate(request)
        if not result.ok:
            print(f"background {kind}: {result.error_kind}: {result.error_message}", file=sys.stderr)


def _replace_tuning_db(request: Any, folder: Path) -> Any:
    import dataclasses

    return dataclasses.replace(request, tuning_db=folder)


class Foreground:
    """The fixed module, timed the way every trial is timed."""

    def __init__(self, model: str, work_dir: Path, threads: int, measurements: int) -> None:
        from dse.core.config import DeviceOptions
        from objectives.evaluate import evaluate
        from search_spaces import LayerChoice
        from search_spaces.datasets import load_dataset
        from search_spaces.targets import open_session

        self.data = load_dataset("digits", None)
        self.work_dir = work_dir
        self.measurements = measurements
        self.loads: list[float] = []
        library = work_dir / "fixed.so"
        request = _request(
            model, work_dir, threads, _weights(model, work_dir, self.data), algorithm=LayerChoice("spatial_pack")
        )
        import dataclasses

        result = evaluate(dataclasses.replace(request, keep_library=library))
        if not result.ok:
            raise SystemExit(f"could not build the fixed module: {result.error_message}")
        self.module = open_session("x86", DeviceOptions()).load(str(library))

    def time_ms(self, locked: bool = True, count: int | None = None) -> tuple[list[float], float, int]:
        """Latencies of ``count`` (default ``measurements``) trial-style measurements, seconds
        spent waiting for the lock, and how many were taken again (noisy or disturbed).

        The foreign load (cores other processes kept busy) of every attempt, kept or taken
        again, is appended to ``self.loads``: it tells load that reached the CPU from drift."""
        from dse.core.config import DeviceOptions, MeasureConfig
        from objectives.latency import measure_stable
        from search_spaces.targets import measurement_lock

        medians, waited, retaken = [], 0.0, 0
        for _ in range(self.measurements if count is None else count):
            lock: AbstractContextManager[None] = measurement_lock("x86", DeviceOptions()) if locked else nullcontext()
            start = time.perf_counter()
            info: dict[str, Any] = {}
            with lock:
                waited += time.perf_counter() - start
                medians.append(measure_stable(self.module, self.data, MeasureConfig(), info).median_ms)
            retaken += int(info["latency_attempts"]) - 1
            attempts = [info.get("foreign_load_cores"), *(r["foreign_load"] for r in info.get("latency_rejected", []))]
            self.loads += [float(load) for load in attempts if load is not None]
        return medians, waited, retaken


def _wait_for(condition: Any, worker: subprocess.Popen[bytes], what: str) -> None:
    while not condition():
        if worker.poll() is not None:
            raise SystemExit(f"the background worker exited with {worker.returncode} while waiting for {what}")
        time.sleep(0.1)


def _row(fg: Foreground, kind: str, work_dir: Path, threads: int, locked: bool) -> dict[str, Any]:
    """Alternate alone and disturbed measurements beside one background worker."""
    ready = Path(tempfile.mkdtemp(prefix="dse-isolation-")) / "ready"
    pause, paused = ready.with_suffix(".pause"), ready.with_suffix(".paused")
    pause.touch()  # it starts paused: the first alone measurement comes after its imports
    env = {**os.environ, "TVM_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "bench.isolation", "--background", kind, "--work-dir", str(work_dir)]
    worker = subprocess.Popen([*command, "--threads", str(threads), "--ready", str(ready)], env=env)
    alone: list[float] = []
    disturbed: list[float] = []
    waited, retaken = 0.0, 0
    alone_loads: list[float] = []
    disturbed_loads: list[float] = []
    try:
        _wait_for(paused.exists, worker, "its start")
        for _ in range(fg.measurements):
            time.sleep(1.0)
            fg.loads = []
            alone += fg.time_ms(locked=locked, count=1)[0]
            alone_loads += fg.loads
            fg.loads = []
            pause.unlink()
            _wait_for(lambda: not paused.exists(), worker, "it to resume")
            time.sleep(4.0)  # into its compile or tuning
            latencies, wait_s, again = fg.time_ms(locked=locked, count=1)
            disturbed += latencies
            disturbed_loads += fg.loads
            waited, retaken = waited + wait_s, retaken + again
            pause.touch()
            _wait_for(paused.exists, worker, "it to pause")  # it finishes its evaluation first
    finally:
        worker.kill()
        worker.wait()
    median_alone, median_disturbed = statistics.median(alone), statistics.median(disturbed)
    return {
        "alone_ms": median_alone,
        "disturbed_ms": median_disturbed,
        "ratio": median_disturbed / median_alone,
        "waited_s": waited,
        "retaken": retaken,
        # other processes' CPU use (cores) during each attempt, alone and disturbed
        "load_alone_max": max(alone_loads, default=None),
        "load_disturbed_max": max(disturbed_loads, default=None),
        "load_disturbed": [round(load, 3) for load in disturbed_loads],
    }


def _load(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of TVM (default: all)")
    parser.add_argument("--model", default="resnet18", help="the fixed module's model (default resnet18)")
    parser.add_argument(
        "--measurements", type=int, default=3, help="alone and disturbed measurements per row (default 3 each)"
    )
    parser.add_argument("--json", type=Path, help="write the rows here (case, alone_ms, disturbed_ms, ratio)")
    parser.add_argument("--no-control", action="store_true", help="skip the unlocked control row")
    parser.add_argument("--background", choices=("compile", "tune"), help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1 or args.measurements < 1:
        parser.error("--threads and --measurements must be >= 1")
    os.environ["TVM_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.background:
        background(args.background, args.work_dir, args.threads, args.ready)
        return 0

    import torch

    torch.set_num_threads(args.threads)
    from bench._common import machine_line

    print(machine_line(args.threads))
    shared = Path(tempfile.mkdtemp(prefix="dse-isolation-work-"))
    fg = Foreground(args.model, shared, args.threads, args.measurements)
    print(
        f"fixed module: {args.model} on digits, spatial_pack, untuned; {args.measurements} alone and {args.measurements} disturbed measurements per row, alternating"
    )
    print(
        f"{'case':52s} {'alone_ms':>9s} {'disturbed_ms':>12s} {'ratio':>6s} {'waited_s':>8s} {'retaken':>7s} "
        f"{'load_alone':>10s} {'load_dist':>9s}"
    )
    rows = []
    cases = [*CASES, *(() if args.no_control else (CONTROL,))]
    for name, kind, same_dir in cases:
        work_dir = shared if same_dir else Path(tempfile.mkdtemp(prefix="dse-isolation-other-"))
        row = {"case": name, **_row(fg, kind, work_dir, args.threads, locked=name != CONTROL[0])}
        rows.append(row)
        print(
            f"{name:52s} {row['alone_ms']:9.3f} {row['disturbed_ms']:12.3f} {row['ratio']:6.3f} "
            f"{row['waited_s']:8.1f} {row['retaken']:7d} {_load(row['load_alone_max']):>10s} "
            f"{_load(row['load_disturbed_max']):>9s}",
            flush=True,
        )
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
        print(f"rows written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
