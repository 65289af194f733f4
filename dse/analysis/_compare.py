"""Search efficiency as analysis: hypervolume after every trial of every run, and trials to X%.

The runs themselves (exhaustive, then each guided sampler and seed) are made by
``dse.search_efficiency``; this module reads their studies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dse.analysis._frames import feasible, study_frame
from dse.analysis._front import front, hypervolume, reference_point

if TYPE_CHECKING:
    import numpy as np
    import optuna
    import pandas as pd

#: Name of the exhaustive run (``<prefix>-exhaustive``); guided runs are ``<prefix>-<sampler>-s<seed>``.
EXHAUSTIVE = "exhaustive"
LEVELS = (0.90, 0.95, 0.99)


def _split_name(study: str, prefix: str) -> tuple[str, int | None]:
    rest = study[len(prefix) + 1 :]
    if rest == EXHAUSTIVE:
        return EXHAUSTIVE, None
    sampler, _, seed = rest.rpartition("-s")
    return sampler, int(seed)


def curves(studies: Sequence[optuna.Study], prefix: str) -> tuple[pd.DataFrame, float, np.ndarray]:
    """Hypervolume (as a share of the exhaustive front's) after every trial of every run.

    Returns:
        (frame with sampler, seed, trial_index, hv_share, cost_s, wall_s), exhaustive HV, reference point.
    """
    import pandas as pd

    frame = study_frame(studies)
    exhaustive_rows = frame[frame["study"] == f"{prefix}-{EXHAUSTIVE}"]
    cloud = feasible(exhaustive_rows)
    reference_front = front(cloud)
    if reference_front.empty:
        raise ValueError("the exhaustive run has no feasible configuration: nothing to compare against")
    reference = reference_point(reference_front, cloud)
    best = hypervolume(reference_front, reference)
    rows = []
    for name, trials in frame.sort_values(["study", "trial"]).groupby("study", sort=False):
        sampler, seed = _split_name(str(name), prefix)
        seen: set[str] = set()
        wall = 0.0
        for index in range(len(trials)):
            row = trials.iloc[index]
            cost = float(row["duration_s"] or 0.0)
            if bool(row["cache_hit"]) and row["config_key"] not in seen:
                cost += float(row["eval_time_s"] or 0.0)
            seen.add(row["config_key"])
            wall += cost
            hv = hypervolume(feasible(trials.iloc[: index + 1]), reference)
            rows.append(
                {
                    "sampler": sampler,
                    "seed": seed,
                    "trial_index": index + 1,
                    "hv_share": hv / best if best > 0 else 0.0,
                    "wall_s": wall,
                }
            )
    return pd.DataFrame(rows), best, reference


def reach_table(curve: pd.DataFrame, levels: Sequence[float] = LEVELS) -> pd.DataFrame:
    """Per sampler: trials (and simulated wall time) to reach each share of the exhaustive HV.

    Median over seeds of the runs that reached it, with ``reached/runs`` alongside.
    """
    import pandas as pd

    rows = []
    for sampler, runs in curve.groupby("sampler", sort=False):
        row: dict[str, object] = {
            "sampler": sampler,
            "runs": runs["seed"].nunique() if runs["seed"].notna().any() else 1,
        }
        finals = runs.groupby("seed", dropna=False)["hv_share"].last()
        row["trials/run"] = int(runs.groupby("seed", dropna=False)["trial_index"].max().median())
        row["final hv %"] = 100 * float(finals.median())
        for level in levels:
            hits = runs[runs["hv_share"] >= level - 1e-12].groupby("seed", dropna=False).first()
            label = f"{level:.0%}"
            row[f"trials to {label}"] = float(hits["trial_index"].median()) if len(hits) else float("nan")
            row[f"wall s to {label}"] = float(hits["wall_s"].median()) if len(hits) else float("nan")
            row[f"reached {label}"] = f"{len(hits)}/{row['runs']}"
        rows.append(row)
    return pd.DataFrame(rows)
