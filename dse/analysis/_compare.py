"""Exhaustive vs guided search on one discretized space, sharing one evaluation cache.

Runs the exhaustive study first (every distinct configuration, in a seeded random order,
enqueued), then each guided sampler for each seed, as separate studies of one storage. All
share one :class:`dse.evaluator.Evaluator`, whose joblib cache means a configuration is
compiled and measured once: the guided runs read the exhaustive run's measurements.

Wall time: a guided trial served from the cache did not pay for its evaluation, so its cost is
*simulated cold*: its own duration (sampler, storage, cache read) plus, the first time the run
meets that configuration, the evaluation time recorded with the cached result (compile,
accuracy, measure). That is what the run would have cost alone on this machine.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dse.analysis._discrete import DiscreteTrial, distinct_configurations
from dse.analysis._frames import feasible, study_frame
from dse.analysis._front import front, hypervolume, reference_point

if TYPE_CHECKING:
    import numpy as np
    import optuna
    import pandas as pd

    from dse.config import StudyConfig
    from dse.evaluator import Evaluator
    from search_spaces import SearchSpace
    from search_spaces.models._weights import ResolvedWeights

EXHAUSTIVE = "exhaustive"
LEVELS = (0.90, 0.95, 0.99)


@dataclass(frozen=True)
class CompareConfig:
    """``base`` supplies space, storage, measurement; its study_name is the prefix of every run."""

    base: StudyConfig
    samplers: tuple[str, ...]
    seeds: tuple[int, ...]
    n_trials: int  # per guided run

    def run_name(self, sampler: str, seed: int | None = None) -> str:
        return f"{self.base.study_name}-{sampler}" + ("" if seed is None else f"-s{seed}")


class _Runs:
    """Opens studies and runs trials through one shared evaluator."""

    def __init__(self, space: SearchSpace, evaluator: Evaluator) -> None:
        from dse.engine import Objective

        self._space = space
        self._grid = space.grid()
        self._objective = Objective(space, evaluator)

    def _call(self, trial: optuna.Trial) -> tuple[float, float]:
        return self._objective(DiscreteTrial(trial, self._grid))  # type: ignore[arg-type]

    def run(self, config: StudyConfig, n_trials: int, enqueue: Sequence[dict] = ()) -> optuna.Study:
        import optuna

        from dse.engine import (
            TrialFailed,
            _OneLineFailures,  # the engine's filter: failed trials log their reason only
        )
        from dse.study import create_or_load_study

        study = create_or_load_study(config, self._space)
        for handler in optuna.logging.get_logger("optuna").handlers:
            if not any(isinstance(f, _OneLineFailures) for f in handler.filters):
                handler.addFilter(_OneLineFailures())
        for params in enqueue:
            study.enqueue_trial(params, skip_if_exists=True)
        done = len(study.get_trials(deepcopy=False, states=(
            optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)))
        if n_trials > done:
            study.optimize(self._call, n_trials=n_trials - done, catch=(TrialFailed,))
        return study


def run_compare(
    config: CompareConfig, space: SearchSpace, weights: dict[str, ResolvedWeights], progress: bool = True
) -> list[optuna.Study]:
    """Run (or resume) the exhaustive study and every sampler x seed study; return them all."""
    from dse._worker import IsolatedRunner
    from dse.evaluator import Evaluator

    base = config.base
    runner = IsolatedRunner(env={"TVM_NUM_THREADS": str(base.threads), "OMP_NUM_THREADS": str(base.threads)})
    runs = _Runs(space, Evaluator(base, weights, runner))
    configurations = distinct_configurations(space)
    random.Random(base.seed).shuffle(configurations)
    studies = []
    try:
        exhaustive = replace(base, study_name=config.run_name(EXHAUSTIVE), sampler="random", n_trials=len(configurations))
        _say(progress, f"{EXHAUSTIVE}: {len(configurations)} distinct configurations")
        studies.append(runs.run(exhaustive, len(configurations), configurations))
        for sampler in config.samplers:
            for seed in config.seeds:
                _say(progress, f"{sampler} seed {seed}: {config.n_trials} trials")
                run = replace(base, study_name=config.run_name(sampler, seed), sampler=sampler, seed=seed,
                              n_trials=config.n_trials)
                studies.append(runs.run(run, config.n_trials))
    finally:
        runner.close()
    return studies


def _say(enabled: bool, message: str) -> None:
    if enabled:
        import sys

        print(f"[compare] {message}", file=sys.stderr, flush=True)


def _split_name(study: str, prefix: str) -> tuple[str, int | None]:
    rest = study[len(prefix) + 1:]
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
            rows.append({"sampler": sampler, "seed": seed, "trial_index": index + 1,
                         "hv_share": hv / best if best > 0 else 0.0, "wall_s": wall})
    return pd.DataFrame(rows), best, reference


def reach_table(curve: pd.DataFrame, levels: Sequence[float] = LEVELS) -> pd.DataFrame:
    """Per sampler: trials (and simulated wall time) to reach each share of the exhaustive HV.

    Median over seeds of the runs that reached it, with ``reached/runs`` alongside.
    """
    import pandas as pd

    rows = []
    for sampler, runs in curve.groupby("sampler", sort=False):
        row: dict[str, object] = {"sampler": sampler, "runs": runs["seed"].nunique() if runs["seed"].notna().any() else 1}
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
