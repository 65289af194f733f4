"""``python -m dse.analyze``: explain the Pareto fronts of one or more studies.

Per target: the front (real measurements; emulated ones apart), which layer choices make it,
layer swaps all else equal, parameter importance, and across-stack interactions the data
support; across targets: each configuration's rank per platform. Writes a terminal summary,
and on request a self-contained HTML report and a CSV of all trials.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dse.cli import Parser, check_output_file, finite_float, report_usage_error, write_output
from dse.core.errors import UsageError

DEFAULT_STORAGE_HINT = "sqlite file studies/dse.db"


def _names(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    from dse.analysis import Thresholds  # light: pandas, plotly and optuna load inside its functions

    p = Parser(prog="python -m dse.analyze", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--storage", help=f"Optuna storage URL (default: {DEFAULT_STORAGE_HINT})")
    p.add_argument(
        "--study-name",
        dest="studies",
        action="append",
        type=_names,
        default=[],
        help="study to analyze (repeat, or comma list; default: every study in the storage)",
    )
    p.add_argument("--html", type=Path, help="write the HTML report (plots, plotly.js inline) here")
    p.add_argument("--csv", type=Path, help="write every trial (one row each, all layers and attributes) here")
    p.add_argument(
        "--importance",
        default="fanova",
        choices=("fanova", "ped-anova", "mdi"),
        help="Optuna importance evaluator (default fanova)",
    )
    p.add_argument(
        "--min-pairs",
        type=int,
        default=Thresholds.min_pairs,
        help=f"matched pairs per level before an interaction is claimed (default {Thresholds.min_pairs})",
    )
    p.add_argument(
        "--min-effect",
        type=finite_float,
        default=0.10,
        help="smallest latency difference that counts, as a log ratio (default 0.10, about 10%%)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.min_pairs < 1:
            raise UsageError(f"--min-pairs must be >= 1, got min_pairs={args.min_pairs}")
        if args.min_effect < 0:
            raise UsageError(f"--min-effect must be >= 0, got min_effect={args.min_effect}")
        for flag, path in (("--html", args.html), ("--csv", args.csv)):
            if path is not None:
                check_output_file(flag, path)
        from dse.analysis import Thresholds, analyze, load_studies, render, render_html
        from dse.optimize import DEFAULT_WORK_DIR
        from dse.study import default_storage

        storage = args.storage or default_storage(DEFAULT_WORK_DIR.resolve())
        studies = load_studies(storage, [name for group in args.studies for name in group])
        analysis = analyze(
            studies, Thresholds(min_pairs=args.min_pairs, min_effect=args.min_effect), evaluator=args.importance
        )
        print(render(analysis))
        if args.csv is not None:
            write_output("--csv", args.csv, analysis.frame.to_csv(index=False))
            print(f"CSV of {len(analysis.frame)} trials: {args.csv}")
        if args.html is not None:
            write_output("--html", args.html, render_html(analysis))
            print(f"HTML report: {args.html}")
        return 0
    except UsageError as exc:
        return report_usage_error(exc, "--debug" in argv)


if __name__ == "__main__":
    sys.exit(main())
