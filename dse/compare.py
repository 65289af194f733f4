"""``python -m dse.compare``: exhaustive vs guided search on the same (small, discretized) space.

Runs every distinct configuration once (the exhaustive front), then TPE, NSGA-II, GP, random
and QMC for several seeds on the same space and target; all runs share one evaluation cache, so
each configuration is compiled and measured once. Reports hypervolume vs trials and vs wall
time and the trials each sampler needs to reach 90/95/99% of the exhaustive front's volume.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dse.cli import Parser, csv_list, report_usage_error
from dse.core.config import SAMPLERS
from dse.core.errors import UsageError

GUIDED = tuple(s for s in SAMPLERS if s != "grid")
DEFAULTS = {
    "models": ("tiny_cnn",),
    "pruning": ("none",),
    "precision": ("fp32", "int8"),
    "algorithms": ("im2col_gemm", "direct", "spatial_pack"),
    "tuning": ("untuned",),
}
MAX_CONFIGS = 300


def _seeds(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in csv_list(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """dse.optimize's shared options (``parents=``) with compare's defaults, plus compare's own."""
    from dse.optimize import shared_options

    p = Parser(
        prog="python -m dse.compare",
        description=__doc__.splitlines()[0] if __doc__ else None,
        parents=[shared_options()],
    )
    p.set_defaults(**DEFAULTS)  # a small space by default: every configuration is measured
    p.add_argument("--samplers", type=csv_list, default=GUIDED, help=f"guided samplers (default: {','.join(GUIDED)})")
    p.add_argument("--seeds", type=_seeds, default=(0, 1, 2), help="seeds per guided sampler (default 0,1,2)")
    p.add_argument("--n-trials", type=int, help="trials per guided run (default: half the distinct configurations)")
    p.add_argument(
        "--max-configs",
        type=int,
        default=MAX_CONFIGS,
        help=f"refuse spaces with more distinct configurations (default {MAX_CONFIGS})",
    )
    p.add_argument(
        "--study-prefix", help="run names: PREFIX-exhaustive, PREFIX-tpe-s0 ... (default compare-<target>-<dataset>)"
    )
    p.add_argument("--html", type=Path, help="write the plot and table as a self-contained HTML page")
    p.add_argument("--csv", type=Path, help="write the hypervolume curves (every run, every trial) as CSV")
    p.epilog = (
        f"Defaults differ from dse.optimize: {'; '.join(f'--{k} {chr(44).join(v)}' for k, v in DEFAULTS.items())}; "
        "--storage defaults to the sqlite file <work-dir>/compare.db."
    )
    return p


def _study_config(args: argparse.Namespace):
    """The base StudyConfig, validated exactly as dse.optimize validates its own."""
    from dse.optimize import config_from_args, options_over

    ns = options_over(vars(args))  # optimize's defaults for the options compare does not expose
    ns.sampler, ns.seed, ns.n_trials = "random", 0, 1
    ns.study_name = args.study_prefix or f"compare-{args.target}-{args.dataset}"
    config = config_from_args(ns)
    if args.storage is None:  # a file of its own: compare runs are not the user's studies
        config = replace(config, storage=f"sqlite:///{config.work_dir / 'compare.db'}")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        for sampler in args.samplers:
            if sampler not in GUIDED:
                raise UsageError(f"--samplers must be among {', '.join(GUIDED)}, got {sampler!r}")
        if args.n_trials is not None and args.n_trials <= 0:
            raise UsageError(f"--n-trials must be > 0, got n_trials={args.n_trials}")
        for flag, path in (("--html", args.html), ("--csv", args.csv)):
            if path is not None and not path.resolve().parent.is_dir():
                raise UsageError(f"{flag} folder {str(path.parent)!r} does not exist; create it first")
        base = _study_config(args)
        from dse.analysis import count_configurations
        from dse.search_efficiency import CompareConfig, run_and_report
        from search_spaces import SearchSpace

        space = SearchSpace(base.space, base.dataset, base.target)
        n_configs = count_configurations(space)
        if n_configs > args.max_configs:
            raise UsageError(
                f"the space has {n_configs} distinct configurations, more than --max-configs "
                f"{args.max_configs}: narrow --pruning/--precision/--algorithms/--tuning or raise it"
            )
        config = CompareConfig(base, args.samplers, args.seeds, args.n_trials or max(2, n_configs // 2))
        print(run_and_report(config, space, args.html, args.csv))
        return 0
    except UsageError as exc:
        return report_usage_error(exc, "--debug" in argv)
    except KeyboardInterrupt:
        print("interrupted: finished trials are stored; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
