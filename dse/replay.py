"""Samplers replayed against a measured table: search efficiency with no compilation.

A table (``dse.table``) holds the outcome of every distinct configuration of a study's space.
A replay runs an Optuna sampler over the same space (the study file's) and answers each trial
from the table: the accuracy and latency measured there, pruned where the space says the
choices do not fit, failed where the table has no measurement. After every trial it records
the hypervolume of what the run has found, as a share of the whole table's front; the number
of trials to reach 90/95/99% of it, over many seeds, is what a sampler costs on that space.
"""

from __future__ import annotations

import json
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from dse.core.record import UNTUNED_CHECK

if TYPE_CHECKING:
    import numpy as np
    import optuna
    import pandas as pd

    from dse.analysis import Cell, Interaction, Question
    from dse.core.config import StudyConfig
    from search_spaces import SearchSpace

LEVELS = (0.90, 0.95, 0.99)


def _params_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


@dataclass
class ReplayTable:
    """A study's space and, per distinct configuration (its Optuna params), what was measured."""

    space: SearchSpace
    grid: dict[str, list[Any]]
    #: params key -> (accuracy, latency_ms) of a configuration measured feasible.
    measured: dict[str, tuple[float, float]]
    #: params key -> (params, the trial's full record) of each measured configuration.
    records: dict[str, tuple[dict[str, Any], dict[str, Any]]]
    #: params keys of configurations the table records as failed (or pruned).
    failed: set[str]
    #: configurations the exhaustive search must measure (the space's compatible ones).
    size: int
    reference: np.ndarray
    best_hypervolume: float

    @classmethod
    def of(cls, config: StudyConfig, frame: pd.DataFrame) -> ReplayTable:
        """The table of ``frame`` (``dse.table.load_table``) over ``config``'s space."""
        from dse.analysis import front, losses_hypervolume, reference_point
        from search_spaces import SearchSpace, compatible_configurations

        space = SearchSpace(config.space, config.dataset, config.target)
        compatible = {_params_key(params) for params in compatible_configurations(space)}
        measured: dict[str, tuple[float, float]] = {}
        records: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        failed: set[str] = set()
        has_records = "record" in frame.columns
        for row in frame.itertuples(index=False):
            params = json.loads(str(row.params))
            key = _params_key(params)
            if key not in compatible:
                continue  # measured outside this (sub-)space: a replay of part of a table ignores it
            if row.state == "COMPLETE" and row.accuracy == row.accuracy and row.latency_ms == row.latency_ms:
                measured.setdefault(key, (float(row.accuracy), float(row.latency_ms)))  # NaN != NaN
                if has_records and key not in records:
                    records[key] = (params, json.loads(str(row.record)))
            elif row.state in ("FAIL", "PRUNED"):
                failed.add(key)
        failed -= set(measured)  # a configuration that failed once and then completed counts as measured
        import pandas as pd

        cloud = pd.DataFrame(list(measured.values()), columns=["accuracy", "latency_ms"])
        if cloud.empty:
            raise ValueError("the table has no feasible measurement: nothing to replay against")
        reference_front = front(cloud)
        reference = reference_point(reference_front, cloud)
        from dse.analysis import loss_points

        best = losses_hypervolume(loss_points(reference_front), reference)
        return cls(space, space.grid(), measured, records, failed, len(compatible), reference, best)

    @property
    def coverage(self) -> float:
        """The share of the space's configurations the table has an outcome for."""
        return min(1.0, (len(self.measured) + len(self.failed)) / max(self.size, 1))


def samplers(
    config: StudyConfig, space: SearchSpace, budget: int
) -> dict[str, Callable[[int], optuna.samplers.BaseSampler]]:
    """Every sampler the replay compares, by name, each a factory of a seeded sampler: dse's
    own ``--sampler`` choices (``tpe`` is multivariate TPE with groups), and TPE's other modes."""
    import optuna

    from dse.core.config import SAMPLERS
    from dse.study import make_sampler

    def ours(name: str) -> Callable[[int], optuna.samplers.BaseSampler]:
        return lambda seed: make_sampler(replace(config, sampler=name, seed=seed, n_trials=budget), space)

    made: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
        "tpe-independent": lambda seed: optuna.samplers.TPESampler(seed=seed),
        "tpe-multivariate": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
    }
    made.update({name: ours(name) for name in SAMPLERS if name != "grid"})
    return made


@dataclass(frozen=True)
class ReplayRun:
    """One sampler run against a table: the hypervolume share after each trial, and the
    configurations it measured (trial index from 1, params key of a feasible trial), in order."""

    shares: list[float]
    measured: list[tuple[int, str]]

    def measured_within(self, n_trials: int) -> list[str]:
        """The configurations measured in the first ``n_trials`` trials."""
        return [key for index, key in self.measured if index <= n_trials]


def replay(table: ReplayTable, sampler: optuna.samplers.BaseSampler, n_trials: int) -> ReplayRun:
    """Run ``sampler`` for ``n_trials`` against ``table``."""
    import numpy as np
    import optuna

    from dse.analysis import DiscreteTrial, losses_hypervolume

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # TPE's group=True
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    losses: list[tuple[float, float]] = []
    share = 0.0
    shares: list[float] = []
    found: list[tuple[int, str]] = []
    for _ in range(n_trials):
        trial = study.ask()
        config = table.space.suggest(DiscreteTrial(trial, table.grid))  # type: ignore[arg-type]
        key = _params_key(trial.params)
        outcome = table.measured.get(key)
        if outcome is not None:
            study.tell(trial, list(outcome))
            losses.append((-outcome[0], float(np.log10(outcome[1]))))
            share = losses_hypervolume(np.array(losses), table.reference) / table.best_hypervolume
            found.append((len(shares) + 1, key))
        elif table.space.incompatibility(config) is not None:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:  # failed when measured, or not in the table
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        shares.append(share)
    return ReplayRun(shares, found)


def _trials(
    table: ReplayTable, keys: Sequence[str], outcome_of: dict[str, str] | None = None
) -> list[optuna.trial.FrozenTrial]:
    """The table's records of ``keys`` as finished Optuna trials, numbered in order. With
    ``outcome_of``, a trial keeps its own configuration but carries the outcome (accuracy,
    latency, everything measured) of the configuration it maps to: a relabelled table."""
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution

    trials = []
    for number, key in enumerate(dict.fromkeys(keys)):
        params, record = table.records[key]
        source = (outcome_of or {}).get(key, key)
        if source != key:
            record = _relabelled(table.records[source][1], record)
        distributions: dict[str, BaseDistribution] = {
            name: CategoricalDistribution(table.grid.get(name, [value])) for name, value in params.items()
        }
        trial = optuna.trial.create_trial(
            params=params, distributions=distributions, values=list(table.measured[source]), user_attrs=record
        )
        trial.number = number
        trials.append(trial)
    return trials


#: What of a trial's record says which configuration ran (the rest is what was measured).
_LABEL_INFO = (
    "effective_algorithm",
    "algorithm_flop_share",
    "algorithm_layers",
    "tuned_kernels",
    "total_kernels",
    UNTUNED_CHECK,
)


def _relabelled(outcome: dict[str, Any], labels: dict[str, Any]) -> dict[str, Any]:
    """The record ``outcome`` under the configuration of the record ``labels``."""
    info = {**(outcome.get("info") or {})}
    for name in _LABEL_INFO:
        info.pop(name, None)
        if name in (labels.get("info") or {}):
            info[name] = labels["info"][name]
    return {**outcome, "config": labels.get("config"), "info": info}


def claims(table: ReplayTable, keys: Sequence[str], outcome_of: dict[str, str] | None = None) -> list[Interaction]:
    """The interactions the analyzer claims from the table's trials ``keys`` alone (relabelled
    by ``outcome_of``, see :func:`_trials`)."""
    from dse.analysis import feasible, interactions, matched_pairs, trials_frame

    points = feasible(trials_frame([("replay", _trials(table, keys, outcome_of))]), emulated=False)
    return interactions(matched_pairs(points))


class ClaimScore(NamedTuple):
    """A run's claims against the reference's (the analyzer on the whole table)."""

    true: int  # claims that agree with one of the reference's (:func:`agrees`)
    false: int  # every other claim
    missed: int  # reference claims no true claim of the run is about


def stated_verdicts(claim: Interaction) -> dict[str, str]:
    """What a claim says, level by level of its ``by``: the swap's winner (``a1``/``a2``) at the
    levels a reversal contrasts, and also ``none`` at the levels an on/off claim says it vanishes."""
    stated = ("a1", "a2") if claim.kind == "reversal" else ("a1", "a2", "none")
    return {cell.level: cell.verdict for cell in claim.cells if cell.verdict is not None and cell.verdict in stated}


def agrees(claim: Interaction, truth: Interaction) -> bool:
    """Whether ``claim`` is a true statement of the interaction ``truth`` establishes: the same
    question, and at every level the claim names, what the whole table shows there
    (:func:`_verdict_holds`).

    The two may differ in kind: a run that saw only the levels where the swap's effect is strong
    and where it vanishes calls "on/off" what all levels show to be a reversal, and it is right
    about the levels it saw."""
    if (claim.layer, claim.a1, claim.a2, claim.by) != (truth.layer, truth.a1, truth.a2, truth.by):
        return False
    truth_at = {cell.level: cell for cell in truth.cells}
    return all(
        level in truth_at and _verdict_holds(verdict, truth_at[level])
        for level, verdict in stated_verdicts(claim).items()
    )


def _verdict_holds(verdict: str, truth: Cell) -> bool:
    """A claimed verdict at a level against the whole table's cell there: the same verdict, or,
    where the table's pairs are ``mixed`` (fewer than ``agree`` of them on one side: a dozen
    pairs within noise and one beyond it are mixed), the side of its median ratio, which is what
    a claim reports: its 95% interval below 1 (``a1`` faster), above 1 (``a2``), or around 1
    (``none``)."""
    if truth.verdict == verdict:
        return True
    if truth.verdict != "mixed":
        return False
    low, high = truth.ratio_ci
    return {"a1": high < 1.0, "a2": low > 1.0, "none": low <= 1.0 <= high}.get(verdict, False)


def score(found: Sequence[Interaction], reference: Sequence[Interaction]) -> ClaimScore:
    """Count ``found`` claims true or false, and the ``reference`` claims they miss (:func:`agrees`)."""
    true = [claim for claim in found if any(agrees(claim, truth) for truth in reference)]
    recalled = [truth for truth in reference if any(agrees(claim, truth) for claim in true)]
    return ClaimScore(len(true), len(found) - len(true), len(reference) - len(recalled))


def planted_null(table: ReplayTable, layer: str, seed: int) -> dict[str, str]:
    """A null for ``layer``: among the table's configurations that differ only in that layer,
    outcomes are shuffled, so its labels carry no effect and nothing else changes. Returns
    the relabelling (configuration -> the configuration whose outcome it gets) for :func:`claims`;
    any claim the analyzer then makes about ``layer`` (as the contrast or as what it depends
    on) is false."""
    import random

    strata: dict[str, list[str]] = {}
    for key, (params, _) in table.records.items():
        rest = {name: value for name, value in params.items() if name.split(".", 1)[0] != layer}
        strata.setdefault(_params_key(rest), []).append(key)
    rng = random.Random(seed)
    outcome_of: dict[str, str] = {}
    for keys in strata.values():
        shuffled = sorted(keys)
        rng.shuffle(shuffled)
        outcome_of.update(zip(sorted(keys), shuffled, strict=True))
    return outcome_of


def about(found: Sequence[Interaction], layer: str) -> list[Interaction]:
    """The claims that name ``layer``, as the contrast or as what the contrast depends on."""
    return [claim for claim in found if layer in (claim.layer, claim.by)]


def verified_claims(table: ReplayTable, keys: Sequence[str], budget: int) -> list[Interaction]:
    """The claims after ``--verify budget`` on a study of ``keys``: each round's planned
    matched-pair trials (:func:`dse.analysis.verification_round`) are answered from the table
    (those it lacks are not run) before the next round is planned."""
    from dse.analysis import feasible, matched_pairs, trials_frame, verification_round

    measured = list(dict.fromkeys(keys))
    asked: list[Question] = []
    room = budget
    while room > 0:
        trials = _trials(table, measured)
        points = feasible(trials_frame([("replay", trials)]), emulated=False)
        planned = verification_round(
            points,
            matched_pairs(points),
            {t.number: t.params for t in trials},
            asked,
            room,
            lambda p: _params_key(p) in table.records,
        )
        if not planned:
            break
        measured += [key for key in dict.fromkeys(_params_key(t.params) for t in planned) if key not in measured]
        asked += [t.question for t in planned if t.question not in asked]
        room -= len(planned)
    return claims(table, measured)


def trials_to_reach(shares: Sequence[float], level: float) -> int | None:
    """The first trial (1-based) after which ``shares`` is at least ``level``; None if never."""
    return next((i + 1 for i, share in enumerate(shares) if share >= level - 1e-12), None)


def median_reach(reaches: Sequence[int | None]) -> float | None:
    """The median over seeds, a seed that never got there counting as the slowest; None when
    the median seed never got there."""
    ordered = sorted(reaches, key=lambda r: float("inf") if r is None else r)
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    if any(r is None for r in middle):
        return None
    return float(statistics.mean(r for r in middle if r is not None))


def quartiles(reaches: Sequence[int | None]) -> tuple[float | None, float | None]:
    """25th and 75th percentile of ``reaches`` over seeds (None where that seed never got there)."""
    import numpy as np

    values = np.array([np.inf if r is None else r for r in reaches], dtype=float)
    low, high = (float(v) for v in np.percentile(values, [25, 75], method="nearest"))
    return (None if np.isinf(low) else low), (None if np.isinf(high) else high)
