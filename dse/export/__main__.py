"""``python -m dse.export --out DIR``: write the deployable bundle of a study's chosen build.

Takes the study's own options (``--target``, ``--dataset``, ``--data-dir``, ``--weights``,
``--work-dir``, ``--storage``, ``--threads``, ``--eval-limit``, ``--repeat``, ...; a study file
via ``--config``), so the rebuild is checked against what the study measured.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dse.cli import Parser, finite_float, report_usage_error
from dse.core.errors import UsageError

if TYPE_CHECKING:
    from dse.core.config import StudyConfig


def build_parser() -> argparse.ArgumentParser:
    from dse.optimize import device_arguments, shared_options

    p = Parser(
        prog="python -m dse.export",
        description=__doc__.splitlines()[0] if __doc__ else None,
        parents=[shared_options(), device_arguments()],
    )
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write (new, empty, or an earlier bundle)")
    p.add_argument("--study-name", help="default: dse-<target>-<dataset>")
    chosen = p.add_mutually_exclusive_group()
    chosen.add_argument("--trial", type=int, help="export this trial (numbers as in the summary's front)")
    chosen.add_argument(
        "--min-accuracy",
        type=finite_float,
        help="export the fastest trial with at least this accuracy (default: the front's most accurate "
        "point, the faster one where two tie)",
    )
    p.add_argument("--config", type=Path, help="the study file (TOML) the study was run with")
    return p


def _study_config(args: argparse.Namespace) -> StudyConfig:
    """The study's StudyConfig, validated exactly as dse.optimize validates its own."""
    from dse.optimize import build_parser as optimize_parser
    from dse.optimize import config_from_args, options_over
    from dse.studyfile import study_file_argv

    base = study_file_argv(args.config, optimize_parser()) if args.config is not None else []
    # With a study file, only what the command line changed overrides it.
    defaults = vars(build_parser().parse_args(["--out", "x"]))
    own = ("out", "trial", "min_accuracy", "config")
    values = {k: v for k, v in vars(args).items() if k not in own and (v != defaults.get(k) or not base)}
    ns = options_over(values, base)
    return config_from_args(ns)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        from dse.export import ExportFailed, check_out_folder, choose_trial, export_bundle

        check_out_folder(args.out)
        config = _study_config(args)
        from dse.run import pin_threads
        from search_spaces.targets import TARGETS

        pin_threads(config.threads)
        TARGETS.get(config.target).check_reachable(config.device)
        import optuna

        from dse.study import open_storage, redact, require_existing_storage

        require_existing_storage(config.storage)
        try:
            study = optuna.load_study(study_name=config.study_name, storage=open_storage(config.storage))
        except KeyError:
            raise UsageError(
                f"No study {config.study_name!r} in {redact(config.storage)}; give --study-name or the study's "
                "--target and --dataset"
            ) from None
        trial = choose_trial(study, args.trial, args.min_accuracy)
        print(f"Rebuilding trial {trial.number} of {study.study_name!r} for --target {config.target} ...", flush=True)
        try:
            described = export_bundle(config, study, trial, args.out)
        except ExportFailed as exc:
            print(f"export failed: {exc}; nothing was written to --out", file=sys.stderr)
            return 1
        check = described["check"]
        print(
            f"Bundle written to {args.out}: {described['library']} ({described['target']}), dse-bundle.json, run.py\n"
            f"Checked on {check['device']}: {check['accuracy']:.4f} on {check['eval_size']} evaluation images, "
            f"as the trial; {check['latency_ms']:.4g} ms (trial: {described['measured']['latency_ms']:.4g} ms)\n"
            f"Classify an image: python {args.out / 'run.py'} IMAGE"
        )
        return 0
    except UsageError as exc:
        return report_usage_error(exc, "--debug" in argv)
    except KeyboardInterrupt:
        print("interrupted: nothing was written to --out", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
