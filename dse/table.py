"""A measured study as a table: one row per trial with its full record, shipped and replayed.

``python -m dse.table --storage URL --study-name NAME --out FILE.csv.gz`` writes every trial of
a study (the analysis columns of ``dse.analyze --csv``, plus ``params``: the trial's Optuna
parameters as JSON, ``record``: every user attribute as JSON, ``cpu``: the measurement device,
``versions``: the tools that built and measured it). :func:`load_table` reads it back for
replay (``dse.replay``): a sampler run against the table costs no compilation.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dse.cli import Parser, report_usage_error
from dse.core.errors import UsageError

if TYPE_CHECKING:
    import optuna
    import pandas as pd


def table_frame(study: optuna.Study) -> pd.DataFrame:
    """Every finished trial of ``study``: analysis columns, then params, record, cpu and versions (JSON)."""
    import optuna

    from dse.analysis import trials_frame
    from dse.core.record import TrialRecord

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    trials = study.get_trials(deepcopy=False, states=finished)  # not the queue of a run still going
    frame = trials_frame([(study.study_name, trials)])
    if frame.empty:
        return frame
    device = study.user_attrs.get("dse", {}).get("measurement", {}).get("the measurement device")
    frame["params"] = [json.dumps(t.params, sort_keys=True) for t in trials]
    records = [TrialRecord.of(t) for t in trials]
    frame["record"] = [json.dumps(r.attrs(), sort_keys=True, default=str) for r in records]
    frame["cpu"] = json.dumps(device, sort_keys=True) if device is not None else None
    frame["versions"] = [json.dumps(r.versions, sort_keys=True) for r in records]
    return frame


def load_table(path: Path) -> pd.DataFrame:
    """A table written by :func:`table_frame` (CSV, gzip-compressed when named ``.gz``).

    Raises:
        UsageError: the file is missing or is not such a table.
    """
    import pandas as pd

    if not path.is_file():
        raise UsageError(f"table {str(path)!r} does not exist; write one with python -m dse.table")
    frame = pd.read_csv(path, low_memory=False)
    missing = {"state", "params", "accuracy", "latency_ms"} - set(frame.columns)
    if missing:
        raise UsageError(f"{str(path)!r} is not a dse table (no column {', '.join(sorted(missing))})")
    return frame


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m dse.table", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--storage", required=True, help="Optuna storage URL of the study")
    p.add_argument("--study-name", required=True, help="the study to write")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write (.csv.gz: compressed)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        import optuna

        from dse.study import open_storage, require_existing_storage

        require_existing_storage(args.storage)
        if not args.out.resolve().parent.is_dir():
            raise UsageError(f"--out folder {str(args.out.parent)!r} does not exist; create it first")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = open_storage(args.storage)
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        if args.study_name not in names:
            raise UsageError(f"no study {args.study_name!r} in the storage (studies: {', '.join(names) or 'none'})")
        frame = table_frame(optuna.load_study(study_name=args.study_name, storage=storage))
        frame.to_csv(args.out, index=False)
        counts = frame["state"].value_counts().to_dict() if not frame.empty else {}
        print(f"{len(frame)} trials ({', '.join(f'{k} {v}' for k, v in counts.items())}) written to {args.out}")
        return 0
    except UsageError as exc:
        return report_usage_error(exc, args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
