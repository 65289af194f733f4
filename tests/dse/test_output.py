"""Output that fits where it goes: no progress-bar redraws in a file, progress counts trials run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._studyrun import ROOT
from tests.conftest import FAST_TRIAL_FLAGS


@pytest.mark.e2e
@pytest.mark.slow
def test_ten_trials_redirected_to_a_file_print_few_lines_and_no_redraws_and_leave_the_report(tmp_path: Path) -> None:
    """The README's main job in small: the model is trained and pruned models fine-tuned (the
    progress bars that used to flood logs), then the report beside the study shows the front."""
    from tests._browser import dump_dom

    env = {k: v for k, v in os.environ.items() if k != "DSE_NO_PROGRESS"}  # decided by the terminal alone
    env["PYTHONPATH"] = str(ROOT)
    log = tmp_path / "study.log"
    places = ["--work-dir", str(tmp_path / "work"), "--storage", f"sqlite:///{tmp_path / 'study.db'}"]
    flags = [*FAST_TRIAL_FLAGS]
    flags[flags.index("--pruning") + 1] = "none,magnitude"
    fine_tuned = ["--param", "pruning.magnitude.finetune_epochs=1"]
    with log.open("w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "dse.optimize", *flags, *fine_tuned, "--n-trials", "10", *places],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=1200,
        )
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    assert "\r" not in text and len(text.splitlines()) < 200, text[-3000:]
    assert sum(line.startswith("trial ") for line in text.splitlines()) >= 10  # a line per trial
    assert "training tiny_cnn" in text  # the training bar's one line: the bars did run

    report = tmp_path / "dse-x86-digits-report.html"
    assert f"Report: {report}" in text
    dom = dump_dom(report.as_uri(), tmp_path / "profile")
    assert "Target x86" in dom and "Pareto front" in dom
    assert 'class="main-svg"' in dom and "scatterlayer" in dom  # plotly drew the front's figure
    assert dom.count('class="point"') >= 2


def test_enqueued_grid_trials_are_not_counted_as_done(tmp_path: Path) -> None:
    import optuna

    from dse.lifecycle import Budget

    study = optuna.create_study(directions=["maximize", "minimize"])
    for value in range(3):
        study.enqueue_trial({"x": value})
    study.add_trial(optuna.trial.create_trial(values=[0.5, 1.0]))
    budget = Budget(study, 4, tmp_path, "memory", 20.0, 1)
    assert budget.used() == 4 and budget.finished() == 1


def test_progress_off_a_terminal_is_one_line_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    from dse.core.progress import progress

    with progress(3, "training tiny_cnn", "batches") as bar:
        for _ in range(3):
            bar.update()
        bar.set_postfix(loss="0.1")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training tiny_cnn: 3/3 batches" in err and "loss=0.1" in err
