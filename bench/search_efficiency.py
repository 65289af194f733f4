"""Search efficiency on the shipped exhaustive table: every sampler, many seeds, no compilation.

Each sampler runs against the table of ``studies/dlas.toml`` (``studies/tables/``; see
``dse.replay``): a trial is answered with the accuracy and latency measured there. Printed per
sampler: the median (and quartiles) over seeds of the trials needed to reach 90/95/99% of the
exhaustive front's hypervolume, as a fraction of the table's size::

    python -m bench.search_efficiency                   # 20 seeds, trials up to 25% of the table
    python -m bench.search_efficiency --seeds 40 --json out.json
    python -m bench.search_efficiency --tuning untuned  # a sub-space: any dse.optimize option

By default it replays the choices the table measured (the shipped table is the untuned half of
the study file: ``--tuning untuned`` is implied, and said); ``--whole-space`` replays all.

Also printed: the analyzer's claims on the whole table (the reference) and, per sampler, how
many of them its first trials (then ``--verify``) get right, wrong or miss; and planted nulls:
each layer's outcomes shuffled among configurations that differ only in it, where any claim
about that layer is false. Optuna's AutoSampler (OptunaHub) is replayed when it can be loaded
(it is fetched from GitHub at first use; offline it is reported as unavailable, with why).

It holds the host CPU shared for its whole run (as a compile does), so a study measuring on
this host waits for it rather than timing beside it. A live comparison that compiles and
measures a small space itself is ``python -m dse.compare``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "studies" / "dlas.toml"
TABLE = ROOT / "studies" / "tables" / "dlas-x86-digits.csv.gz"


def _run(table: Any, factory: Any, seed: int, n_trials: int, checks: Any) -> tuple[list[float], dict[str, int]]:
    """One seeded run: its hypervolume shares and, with ``checks`` = (reference claims, trials,
    verification trials), the count of its claims that are true, false and missed, before and
    after --verify."""
    from dse.replay import claims, replay, score, verified_claims

    run = replay(table, factory(seed), n_trials)
    counts: dict[str, int] = {}
    if checks is not None:
        reference, budget, verify = checks
        keys = run.measured_within(budget)
        for stage, found in (("guided", claims(table, keys)), ("verified", verified_claims(table, keys, verify))):
            counts.update({f"{stage}_{kind}": n for kind, n in score(found, reference)._asdict().items()})
    return run.shares, counts


def main(argv: list[str]) -> int:
    from joblib import Parallel, delayed

    from bench._common import machine_line
    from dse.optimize import config_from_args, parse_args
    from dse.replay import LEVELS, ReplayTable, claims, median_reach, quartiles, samplers, trials_to_reach
    from dse.table import load_table
    from search_spaces.targets import cpu_work

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--config", type=Path, default=STUDY, help="the study file the table was measured with")
    p.add_argument("--table", type=Path, default=TABLE, help="the table (python -m dse.table)")
    p.add_argument("--seeds", type=int, default=20, help="seeds per sampler (default 20)")
    p.add_argument("--budget", type=float, default=0.25, help="trials per run, as a fraction of the table")
    p.add_argument("--samplers", help="comma-separated subset (default: all)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs in parallel (default: all cores)")
    p.add_argument("--claims-budget", type=float, default=0.10, help="trials whose claims are checked (fraction)")
    p.add_argument("--verify-budget", type=float, default=0.05, help="--verify trials on top of them (fraction)")
    p.add_argument("--no-claims", action="store_true", help="skip checking the analyzer's claims")
    p.add_argument("--null-seeds", type=int, default=3, help="planted-null shuffles per layer (default 3)")
    p.add_argument("--json", type=Path, help="write one object per sampler here")
    p.add_argument(
        "--whole-space",
        action="store_true",
        help="replay the study file's whole space, even choices the table has no measurement of (they fail)",
    )
    args, restriction = p.parse_known_args(argv)
    print(machine_line(args.jobs) + " (replay: no measurement, the table's CPU is in its cpu column)", flush=True)

    start = time.perf_counter()
    frame = load_table(args.table)
    if not args.whole_space:
        measured = _measured_choices(frame, parse_args(["--config", str(args.config), *restriction]), restriction)
        if measured:
            print(
                f"the table has no measurement of some of the study's choices: replaying what it measured "
                f"({' '.join(measured)}; --whole-space for all, the rest failing)",
                flush=True,
            )
        restriction = [*restriction, *measured]
    config = config_from_args(_restricted(parse_args(["--config", str(args.config), *restriction]), restriction))
    table = ReplayTable.of(config, frame)
    n_trials = max(1, round(args.budget * table.size))
    factories = samplers(config, table.space, n_trials)
    auto, auto_missing = _auto_sampler()
    if auto is not None:
        factories["autosampler"] = auto
    chosen = args.samplers.split(",") if args.samplers else list(factories)
    unknown = sorted(set(chosen) - set(factories))
    if unknown:
        print(f"error: unknown sampler {unknown[0]!r}; choose from {', '.join(factories)}", file=sys.stderr)
        return 2
    cpus = set(frame["cpu"].dropna()) if "cpu" in frame else set()
    print(
        f"table {args.table.name}: {len(table.measured)} feasible + {len(table.failed)} failed of {table.size} "
        f"configurations ({table.coverage:.0%} measured{'' if table.coverage >= 1 else '; unmeasured ones fail'}); "
        f"measured on {', '.join(json.loads(c).get('cpu', {}).get('name', '?') for c in cpus) or '?'}",
        flush=True,
    )
    print(
        f"{len(chosen)} samplers x {args.seeds} seeds x {n_trials} trials ({args.budget:.0%} of the table)", flush=True
    )
    jobs = [(name, seed) for name in chosen for seed in range(args.seeds)]
    checks = None
    if not args.no_claims:
        reference = claims(table, list(table.records))
        budget, verify = round(args.claims_budget * table.size), round(args.verify_budget * table.size)
        checks = (reference, budget, verify)
        print(f"the analyzer's claims on the whole table ({len(reference)}, the reference):")
        print("\n".join(f"  {claim.kind}: {claim.describe()}" for claim in reference))
        print(_size_accuracy_latency(table))
        for layer, false_claims in _planted_nulls(table, args.null_seeds).items():
            print(
                f"planted null, {layer} outcomes shuffled among configurations differing only in it "
                f"({args.null_seeds} shuffles): {false_claims} claims about {layer} (each one false)"
            )
    with cpu_work():
        runs = Parallel(n_jobs=args.jobs)(
            delayed(_run)(table, factories[name], seed, n_trials, checks) for name, seed in jobs
        )
    by_sampler: dict[str, list[list[float]]] = {}
    counts_of: dict[str, list[dict[str, int]]] = {}
    for (name, _), (shares, counts) in zip(jobs, runs, strict=True):
        by_sampler.setdefault(name, []).append(shares)
        counts_of.setdefault(name, []).append(counts)

    rows = []
    header = f"{'sampler':18s}" + "".join(f"  to {level:.0%}: median [q1-q3]   " for level in LEVELS) + " final HV"
    print(header)
    for name, all_shares in by_sampler.items():
        row: dict[str, Any] = {"sampler": name, "seeds": len(all_shares), "table_size": table.size}
        line = f"{name:18s}"
        for level in LEVELS:
            reaches = [trials_to_reach(shares, level) for shares in all_shares]
            median, (q1, q3) = median_reach(reaches), quartiles(reaches)
            key = f"median_fraction_to_{round(level * 100)}"
            row[key] = None if median is None else median / table.size
            row[f"reached_{round(level * 100)}"] = sum(r is not None for r in reaches)
            shown = "never" if median is None else f"{median / table.size:.1%}"
            spread = "-".join("never" if q is None else f"{q / table.size:.1%}" for q in (q1, q3))
            line += f"  {shown:>7s} [{spread:>13s}]"
        row["final_hv_share_median"] = sorted(shares[-1] for shares in all_shares)[len(all_shares) // 2]
        line += f"  {row['final_hv_share_median']:.3f}"
        print(line)
        rows.append(row)
    if checks is not None:
        reference, budget, verify = checks
        print(
            f"claims from each run's first {budget} trials, then with --verify {verify} (answered from the table): "
            f"true / false / missed against the {len(reference)} reference claims, summed over seeds; recall = median"
        )
        for row in rows:
            runs_counts = counts_of[row["sampler"]]
            line = f"{row['sampler']:18s}"
            for stage in ("guided", "verified"):
                total = {kind: sum(c[f"{stage}_{kind}"] for c in runs_counts) for kind in ("true", "false", "missed")}
                recalls = sorted(1 - c[f"{stage}_missed"] / len(reference) for c in runs_counts) if reference else []
                recall = recalls[len(recalls) // 2] if recalls else None  # no reference claim: nothing to recall
                row[f"{stage}_claims"] = {**total, "recall_median": recall}
                shown = "n/a" if recall is None else f"{recall:.2f}"
                line += f"  {stage}: {total['true']}/{total['false']}/{total['missed']} recall {shown}"
            print(line)
    print(
        f"fractions are trials / {table.size} configurations; a seed that never reached a level counts as "
        f"slowest (never: the median seed did not reach it within {n_trials} trials); "
        f"{time.perf_counter() - start:.0f} s"
    )
    if auto_missing:
        print(f"autosampler: not replayed ({auto_missing})")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def _measured_choices(frame: Any, options: Any, restriction: list[str]) -> list[str]:
    """Layer flags (``--tuning untuned``) that narrow the study to the choices ``frame`` measured.

    The shipped table is the untuned half of ``studies/dlas.toml`` (its MetaSchedule half exists
    as slices): replayed whole, every tuned configuration would fail, so samplers would be
    compared on how fast they learn to avoid the unmeasured half, not on the front."""
    from dse.core.layers import LAYER_FLAGS

    flags = []
    for layer, flag in LAYER_FLAGS.items():
        searched = getattr(options, flag.lstrip("-"), None)
        if flag in restriction or layer not in frame or not searched:
            continue
        present = set(frame[layer].dropna().astype(str))
        kept = [choice for choice in searched if choice in present]
        if kept and len(kept) < len(searched):
            flags += [flag, ",".join(kept)]
    return flags


def _restricted(options: Any, restriction: list[str]) -> Any:
    """The study file's options narrowed by ``restriction``: a ``--param`` of a choice the
    restriction leaves out (the tuning budget, once ``--tuning untuned``) is dropped with it."""
    from dse.core.layers import LAYER_FLAGS

    restricted = {layer: flag for layer, flag in LAYER_FLAGS.items() if flag in restriction}

    def searched(name: str) -> bool:
        layer, choice = name.split(".")[:2]
        return layer not in restricted or choice in getattr(options, restricted[layer].lstrip("-"))

    options.param = [(name, values) for name, values in options.param if searched(name)]
    return options


def _size_accuracy_latency(table: Any) -> str:
    """DLAS's first finding, checked on the table: rank correlations (Spearman) between model
    size (non-zero parameters, and the compiled artifact's bytes), accuracy and latency."""
    import pandas as pd

    rows = [
        {
            "nonzero_params": (record.get("info") or {}).get("nonzero_params"),
            "artifact_bytes": record.get("artifact_bytes"),
            "accuracy": table.measured[key][0],
            "latency_ms": table.measured[key][1],
        }
        for key, (_, record) in table.records.items()
    ]
    corr = pd.DataFrame(rows).astype(float).corr(method="spearman")
    pairs = [("nonzero_params", "accuracy"), ("nonzero_params", "latency_ms"), ("accuracy", "latency_ms")]
    pairs.append(("artifact_bytes", "latency_ms"))
    shown = ", ".join(f"{a} ~ {b} {corr.loc[a, b]:+.2f}" for a, b in pairs)
    return f"size, accuracy and latency over the table's {len(rows)} configurations (Spearman): {shown}"


def _auto_sampler() -> tuple[Any, str | None]:
    """OptunaHub's AutoSampler as a seeded factory, or None and why it cannot be loaded."""
    try:
        import optunahub
    except ImportError:
        return None, "pip install optunahub, and network access to github.com, where it loads the sampler from"
    try:
        module = optunahub.load_module("samplers/auto_sampler")
    except Exception as exc:  # noqa: BLE001 (any failure to fetch or import it: reported, not fatal)
        return None, f"optunahub could not load samplers/auto_sampler: {type(exc).__name__}: {str(exc)[:120]}"
    return (lambda seed: module.AutoSampler(seed=seed)), None


def _planted_nulls(table: Any, shuffles: int) -> dict[str, int]:
    """Per searched layer with more than one choice, the claims about it summed over ``shuffles``
    planted nulls (``dse.replay.planted_null``); every one of them is a false claim."""
    from dse.core.layers import LAYERS
    from dse.replay import about, claims, planted_null

    counts: dict[str, int] = {}
    for layer in LAYERS:
        if len(table.grid.get(layer, [])) < 2:
            continue
        counts[layer] = sum(
            len(about(claims(table, list(table.records), planted_null(table, layer, seed)), layer))
            for seed in range(shuffles)
        )
    return counts


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
