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
from pathlib import Path
from typing import TYPE_CHECKING

from dse.analysis import EXHAUSTIVE, DiscreteTrial, distinct_configurations

if TYPE_CHECKING:
    import optuna

    from dse.core.config import StudyConfig
    from dse.evaluator import Evaluator
    from search_spaces import SearchSpace
    from search_spaces.models import ResolvedWeights


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

        from dse.core.errors import TrialFailure
        from dse.engine import quiet_failure_logs
        from dse.study import create_or_load_study

        study = create_or_load_study(config, self._space)
        quiet_failure_logs()
        for params in enqueue:
            study.enqueue_trial(params, skip_if_exists=True)
        done = len(
            study.get_trials(
                deepcopy=False,
                states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL),
            )
        )
        if n_trials > done:
            study.optimize(self._call, n_trials=n_trials - done, catch=(TrialFailure,))
        return study


def run_compare(
    config: CompareConfig, space: SearchSpace, weights: dict[str, ResolvedWeights], progress: bool = True
) -> list[optuna.Study]:
    """Run (or resume) the exhaustive study and every sampler x seed study; return them all."""
    from dse.evaluator import Evaluator
    from dse.worker import IsolatedRunner

    base = config.base
    runner = IsolatedRunner.with_threads(base.threads)
    runs = _Runs(space, Evaluator(base, weights, runner))
    configurations = distinct_configurations(space)
    random.Random(base.seed).shuffle(configurations)
    studies = []
    try:
        exhaustive = replace(
            base, study_name=config.run_name(EXHAUSTIVE), sampler="random", n_trials=len(configurations)
        )
        _say(progress, f"{EXHAUSTIVE}: {len(configurations)} distinct configurations")
        studies.append(runs.run(exhaustive, len(configurations), configurations))
        for sampler in config.samplers:
            for seed in config.seeds:
                _say(progress, f"{sampler} seed {seed}: {config.n_trials} trials")
                run = replace(
                    base,
                    study_name=config.run_name(sampler, seed),
                    sampler=sampler,
                    seed=seed,
                    n_trials=config.n_trials,
                )
                studies.append(runs.run(run, config.n_trials))
    finally:
        runner.close()
    return studies


def _say(enabled: bool, message: str) -> None:
    if enabled:
        import sys

        print(f"[compare] {message}", file=sys.stderr, flush=True)


def run_and_report(config: CompareConfig, space: SearchSpace, html: Path | None, csv: Path | None) -> str:
    """Run (or resume) every study of the comparison; write CSV/HTML; return the printable table."""
    from dse.run import prepare

    base = config.base
    weights = prepare(base, space)  # base.sampler is "random": no grid-size check
    from dse.analysis import LEVELS, curves, reach_table, render_compare_html
    from dse.study import redact

    studies = run_compare(config, space, weights)
    curve, best, reference = curves(studies, base.study_name)
    table = reach_table(curve)
    notes = [
        (
            f"space: {len(studies[0].trials)} distinct configurations of {', '.join(base.space.models)} on {base.target}; "
            f"guided runs: {config.n_trials} trials x seeds {','.join(map(str, config.seeds))}"
        ),
        (
            f"hypervolume on (-accuracy, log10 latency_ms); reference point {reference.round(4).tolist()} = "
            f"nadir of the exhaustive front + 10% of the range of all its measured points; exhaustive front HV = {best:.4g}"
        ),
        (
            "trials/wall s to X%: median over the seeds that reached X% (reached: how many did); wall time is "
            "simulated cold: trial duration plus the cached evaluation's own time the first time a run meets it"
        ),
        f"studies stored in {redact(base.storage)} as {base.study_name}-<sampler>-s<seed>",
    ]
    if csv is not None:
        curve.to_csv(csv, index=False)
        notes.append(f"curves CSV: {csv}")
    if html is not None:
        html.write_text(render_compare_html(curve, table, notes), encoding="utf-8")
        notes.append(f"HTML: {html}")
    shown = table.drop(columns=[c for c in table.columns if c.startswith("wall s to") and "99" not in c])
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-")
    return "\n".join(
        [
            (
                f"Search efficiency ({', '.join(f'{level:.0%}' for level in LEVELS)} of the exhaustive "
                "front's hypervolume):"
            ),
            text,
            *[f"- {n}" for n in notes],
        ]
    )
