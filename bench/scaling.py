"""Trials per hour with 1 and 2 workers on compile-bound work (one study, shared storage).

Each run starts W ``python -m dse.optimize`` processes (or one process with ``--n-jobs W``) on a
fresh study folder and storage, waits for the budget to be spent and reports trials per hour.
Latency measurement is cut to the minimum (``--repeat 2 --min-repeat-ms 1``) so that compilation
dominates; measurements stay serialized per device, so speed-up comes from parallel compiles.
Every trial counts, cache hits included (the cache is fresh per run, so hits are repeats the
sampler drew within the run); the table says how many trials were measured.

Run on a quiet machine with at least as many cores as workers x threads, e.g.::

    python bench/scaling.py --n-trials 24 --workers 1,2
    python bench/scaling.py --n-trials 2 --workers 1,2          # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPACE = [
    "--models",
    "tiny_cnn",
    "--pruning",
    "none,magnitude",
    "--precision",
    "fp32",
    "--algorithms",
    "direct,im2col_gemm,spatial_pack,winograd,tvm_default",
    "--tuning",
    "untuned",
    "--eval-limit",
    "20",
    "--repeat",
    "2",
    "--min-repeat-ms",
    "1",
    "--max-remeasure",
    "0",
    "--sampler",
    "random",
]


def _untrained_weights(path: Path) -> Path:
    """A tiny_cnn checkpoint without training: accuracy is not what this benchmark measures."""
    sys.path.insert(0, str(ROOT))
    import torch

    from search_spaces.models import build_model

    torch.manual_seed(0)
    torch.save(build_model("tiny_cnn", 10, (1, 8, 8)).state_dict(), path)
    return path


def run_once(workers: int, n_trials: int, threads: int, mode: str, folder: Path, weights: Path) -> dict[str, object]:
    """Spend ``n_trials`` with ``workers`` workers; returns wall time and trial counts."""
    import optuna

    from dse.core.record import TrialRecord

    storage = f"sqlite:///{folder / 'dse.db'}"
    args = [
        sys.executable,
        "-m",
        "dse.optimize",
        *SPACE,
        "--n-trials",
        str(n_trials),
        "--threads",
        str(threads),
        "--work-dir",
        str(folder),
        "--storage",
        storage,
        "--weights",
        str(weights),
        "--seed",
        "0",
    ]
    env = {**os.environ, "DSE_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    # One process with N worker threads, or N processes (distinct seeds) on one storage.
    extra = [["--n-jobs", str(workers)]] if mode == "threads" else [["--seed", str(i)] for i in range(workers)]
    procs = [
        subprocess.Popen(
            [*args, *more], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for more in extra
    ]
    errors = [p.communicate()[1] for p in procs]
    wall_s = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit("a worker failed:\n" + "\n".join(errors))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name="dse-x86-digits", storage=storage).trials
    records = [TrialRecord.of(t) for t in trials]
    measured = sum(1 for r in records if r.cache_hit is False)
    compile_s = sum((r.timings_s or {}).get("compile", 0.0) for r in records)
    return {
        "workers": workers,
        "mode": mode,
        "trials": len(trials),
        "measured": measured,
        "wall_s": round(wall_s, 1),
        "trials_per_hour": round(len(trials) / wall_s * 3600, 1),
        "compile_s_total": round(compile_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=24)
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts")
    parser.add_argument("--threads", type=int, default=1, help="TVM/PyTorch threads per worker")
    parser.add_argument(
        "--mode",
        choices=("processes", "threads"),
        default="processes",
        help="W dse.optimize processes, or one process with --n-jobs W",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    from bench._common import machine_line

    print(machine_line(args.threads), "per worker", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="dse-scaling-") as tmp:
        weights = _untrained_weights(Path(tmp) / "tiny_cnn.pt")
        for workers in (int(w) for w in args.workers.split(",")):
            folder = Path(tmp) / f"w{workers}"
            folder.mkdir()
            result = run_once(workers, args.n_trials, args.threads, args.mode, folder, weights)
            results.append(result)
            print(json.dumps(result), flush=True)
    base = results[0]["trials_per_hour"]
    for result in results:
        print(
            f"{result['workers']} worker(s), {result['mode']}: {result['trials_per_hour']:8.1f} trials/h "
            f"({result['measured']} of {result['trials']} measured, {result['wall_s']} s wall), "
            f"speed-up {float(str(result['trials_per_hour'])) / float(str(base)):.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
