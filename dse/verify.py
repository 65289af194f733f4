"""``--verify N``: after the budget, the matched-pair trials that settle the study's
interaction questions, run in the same study round by round (``dse.analysis.verification_round``
plans each round from the trials of the rounds before).

Each planned trial is queued with the question it serves (user attribute ``dse_verification``),
so a resumed study counts what it already ran against N and reports every question asked.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dse.core.record import TrialRecord

if TYPE_CHECKING:
    import optuna

    from dse.analysis import Analysis, PlannedTrial
    from dse.core.config import StudyConfig
    from search_spaces import SearchSpace
    from search_spaces.models import ResolvedWeights


def verification_question(trial: optuna.trial.FrozenTrial) -> tuple[str, str, str, str] | None:
    """The question a ``--verify`` trial was queued to answer (layer, a1, a2, by); None for the
    study's own trials."""
    tag = TrialRecord.of(trial).dse_verification
    if tag is None:
        return None
    layer, a1, a2, by = json.loads(tag)
    return str(layer), str(a1), str(a2), str(by)


def _fits(space: SearchSpace, params: dict[str, Any]) -> bool:
    """Whether ``params`` name a configuration of ``space`` whose choices work together."""
    import optuna

    try:
        return space.incompatibility(space.suggest(optuna.trial.FixedTrial(params))) is None  # type: ignore[arg-type]
    except (ValueError, KeyError):  # a value outside the space's grid, or a missing parameter
        return False


def _next_round(config: StudyConfig, space: SearchSpace, study: optuna.Study, analysis: Analysis) -> list[PlannedTrial]:
    """The next round's trials (``dse.analysis.verification_round``) within what is left of
    ``config.verify``, given the study's trials and the questions earlier rounds (of this run or
    an earlier one) asked."""
    import optuna

    from dse.analysis import verification_round

    trials = study.get_trials(deepcopy=False)
    tagged = [question for question in map(verification_question, trials) if question is not None]
    room = config.verify - len(tagged)
    target = analysis.targets.get(config.target)
    if room <= 0 or target is None:
        return []
    complete = {t.number: t.params for t in trials if t.state is optuna.trial.TrialState.COMPLETE}
    asked = list(dict.fromkeys(tagged))
    return verification_round(
        target.points, target.pairs, complete, asked, room, lambda p: _fits(space, p), analysis.thresholds
    )


def verify_study(
    config: StudyConfig, space: SearchSpace, weights: dict[str, ResolvedWeights], study: optuna.Study
) -> str:
    """Plan, run and report the verification trials (at most ``config.verify`` over all runs),
    round by round: each round's trials run, and the study is analyzed again, before the next
    round is planned."""
    from dse.analysis import analyze, describe_question, verdicts
    from dse.engine import run_study
    from dse.lifecycle import Budget
    from dse.study import redact

    budget = Budget(study, 0, config.work_dir, redact(config.storage), config.heartbeat_interval_s, config.max_retries)
    if budget.finished() < config.n_trials:  # stopped by --timeout: a queue would run first
        return f"Verification (--verify {config.verify}) waits for the study's budget: re-run to finish it first"
    analysis = analyze([study], evaluator=None)
    while planned := _next_round(config, space, study, analysis):
        for trial in planned:
            tag = TrialRecord(dse_verification=json.dumps(list(trial.question)))
            study.enqueue_trial(trial.params, user_attrs=tag.attrs())
        run_study(replace(config, n_trials=budget.used()), space, weights, study)  # the queue is in `used` already
        analysis = analyze([study], evaluator=None)
    target = analysis.targets.get(config.target)
    tagged = [q for q in map(verification_question, study.get_trials(deepcopy=False)) if q is not None]
    asked = list(dict.fromkeys(tagged))
    if not asked:
        return f"Verification (--verify {config.verify}): no open interaction question the space can answer"
    status = verdicts(asked, target.pairs if target else [], analysis.thresholds)
    runs = len(tagged)
    counts = {word: sum(v == word for v in status.values()) for word in ("confirmed", "rejected", "untested")}
    lines = [
        f"Verification (--verify {config.verify}): {runs} matched-pair trials for {len(asked)} questions: "
        + ", ".join(f"{n} {word}" for word, n in counts.items())
    ]
    lines += [f"  {status[q]:9s} {describe_question(q)}" for q in asked]
    return "\n".join(lines)
