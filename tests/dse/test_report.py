"""The end-of-study summary: accuracy intervals, and front points the data cannot tell apart."""

from __future__ import annotations

from dse.analysis._synthetic import add_trials, new_study
from dse.report import pareto_frame, summary

SPACE = {"model": ["small", "large", "huge"]}
LATENCY = {"small": 1.0, "large": 2.0, "huge": 8.0}
ACCURACY = {"small": 0.900, "large": 0.905, "huge": 0.990}  # large: one image better of 200


def _study():  # type: ignore[no-untyped-def]
    study = new_study()
    add_trials(study, SPACE, lambda c: LATENCY[c["model"]], lambda c: ACCURACY[c["model"]], eval_size=200)
    return study


def test_front_shows_intervals_and_marks_a_tie_with_the_faster_point() -> None:
    front = pareto_frame(_study())
    assert list(front["model"]) == ["small", "large", "huge"]  # all three are non-dominated
    small, large, huge = (front.iloc[i] for i in range(3))
    assert small["accuracy_95ci"].startswith("0.85") and large["tie"] == f"= #{int(small['trial'])} (faster)"
    assert huge["tie"] == "" and small["tie"] == ""  # 0.99 vs 0.905 over 200 images is a real difference


def test_summary_explains_the_tie() -> None:
    text = summary(_study(), "sqlite:///x.db")
    assert "95% interval" in text and "the faster one is the decision" in text


def test_a_partly_tuned_trial_says_so_in_its_label() -> None:
    import optuna

    from dse.analysis import study_frame
    from dse.core.record import TrialRecord

    study = optuna.create_study(directions=["maximize", "minimize"])
    config = {"model": "m", "tuning": {"name": "metaschedule", "trials": 16}, "target": "x86"}
    info = {"tuned_kernels": 2, "total_kernels": 5}
    record = TrialRecord(config=config, target="x86", accuracy=0.9, latency_ms=1.0, info=info)
    study.add_trial(optuna.trial.create_trial(values=[0.9, 1.0], user_attrs=record.attrs()))
    assert "[2/5 kernels tuned]" in study_frame([study]).iloc[0]["tuning_label"]
