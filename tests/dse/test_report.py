"""The end-of-study summary: accuracy intervals, and front points the data cannot tell apart."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_partly_tuned_trial_keeps_its_tunings_label_and_says_so_in_its_config() -> None:
    import optuna

    from dse.analysis import study_frame
    from dse.core.record import TrialRecord

    study = optuna.create_study(directions=["maximize", "minimize"])
    config = {"model": "m", "tuning": {"name": "metaschedule", "trials": 16}, "target": "x86"}
    for tuned in (2, 5, 0):
        info = {"tuned_kernels": tuned, "total_kernels": 5}
        record = TrialRecord(config=config, target="x86", accuracy=0.9, latency_ms=1.0, info=info)
        study.add_trial(optuna.trial.create_trial(values=[0.9, 1.0], user_attrs=record.attrs()))
    partly, fully, none = (row for _, row in study_frame([study]).iterrows())
    # partly and fully tuned trials are one choice to the analysis: one label, so they pair
    assert partly["tuning_label"] == fully["tuning_label"] == "metaschedule(trials=16)"
    assert partly["config"].endswith("[2/5 kernels tuned]") and "kernels tuned" not in fully["config"]
    # a tuning that decided no kernel built the untuned code: credited to it, as a fallback
    assert none["tuning"] == "untuned" and none["tuning_label"] == "untuned (asked metaschedule(trials=16))"


@pytest.mark.e2e
def test_a_study_writes_its_report_beside_it_and_chromium_finds_the_front_plotted(
    tmp_path: Path, work_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dse.optimize import main
    from tests._browser import dump_dom
    from tests.conftest import FAST_TRIAL_FLAGS

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    flags = [*FAST_TRIAL_FLAGS, "--algorithms", "tvm_default,spatial_pack", "--work-dir", str(work_dir)]
    assert main([*flags, "--storage", storage, "--n-trials", "2", "--sampler", "grid"]) == 0
    out = capsys.readouterr().out
    report, trials_csv = tmp_path / "dse-x86-digits-report.html", tmp_path / "dse-x86-digits-trials.csv"
    assert f"Report: {report}" in out and f"All trials as CSV: {trials_csv}" in out
    assert len(trials_csv.read_text().splitlines()) == 3  # header and two trials
    dom = dump_dom(report.as_uri(), tmp_path / "profile")
    assert "Target x86" in dom and "Pareto front" in dom
    assert 'class="main-svg"' in dom and "scatterlayer" in dom  # plotly drew the front's figure
    assert dom.count('class="point"') >= 2  # one marker per trial at least


@pytest.mark.e2e
def test_no_report_writes_none(tmp_path: Path, work_dir: Path) -> None:
    from dse.optimize import main
    from tests.conftest import FAST_TRIAL_FLAGS

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert (
        main([*FAST_TRIAL_FLAGS, "--work-dir", str(work_dir), "--storage", storage, "--n-trials", "1", "--no-report"])
        == 0
    )
    assert not list(tmp_path.glob("*-report.html"))
