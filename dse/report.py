"""The end-of-study summary: the Pareto front, layer by layer, as a table a person can act on.

The front is the analysis's (``dse.analysis.front`` over the study's trials frame), so the
summary, ``dse.analyze`` and the HTML report always agree on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dse.core.layers import CHOICE_LAYERS

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from dse.core.config import StudyConfig

#: Columns of the printed front: trial, the layers (labels with parameters), the objectives.
_SHOWN = (
    "trial",
    "model",
    *(f"{layer}_label" for layer in CHOICE_LAYERS),
    "accuracy",
    "accuracy_95ci",
    "latency_ms",
    "speedup_vs_untuned_fp32",
    "speedup_vs_torch_eager",
    "emulated",
    "tie",
)


def pareto_frame(study: optuna.Study) -> pd.DataFrame:
    """The study's Pareto front over every measured trial (real and emulated alike), fastest first.

    A configuration measured again (a cache hit) is one point, not several.
    """
    from dse.analysis import accuracy_ties, feasible, front, study_frame

    points = feasible(study_frame([study]), emulated=None)
    if points.empty:
        return points
    pareto = front(points)
    pareto["accuracy_95ci"] = [
        f"{low:.3f}-{high:.3f}" if low == low and high == high else "-"
        for low, high in zip(pareto["accuracy_low"], pareto["accuracy_high"], strict=True)
    ]
    pareto["tie"] = [f"= #{t} (faster)" if t is not None else "" for t in accuracy_ties(pareto)]
    shown = pareto[list(_SHOWN)]
    return shown.rename(columns={f"{layer}_label": layer for layer in CHOICE_LAYERS})


def summary(study: optuna.Study, storage_shown: str) -> str:
    import optuna

    states = [t.state for t in study.get_trials(deepcopy=False)]
    counts = {state.name: states.count(state) for state in optuna.trial.TrialState if states.count(state)}
    lines = [f"Study {study.study_name!r}: {len(states)} trials ({', '.join(f'{k} {v}' for k, v in counts.items())})"]
    front = pareto_frame(study)
    if front.empty:
        lines.append("No COMPLETE trial yet: no Pareto front.")
    else:
        lines.append("Pareto front (accuracy up, latency down; accuracy with its 95% interval):")
        lines.append(front.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))
        if front["tie"].astype(bool).any():
            lines.append(
                "tie: more accurate than the faster point named, but inside its 95% interval: the data do "
                "not tell them apart, so the faster one is the decision (evaluate on more images to separate them)."
            )
    lines.append(f"Stored in {storage_shown} (study name {study.study_name!r}).")
    lines.append(f"Inspect: optuna-dashboard {storage_shown}")
    return "\n".join(lines)


def report_folder(config: StudyConfig) -> Path:
    """Where the end-of-study report goes: beside a SQLite or journal file, else the work folder."""
    from dse.study import JOURNAL_PREFIX

    if config.storage.startswith("sqlite:///"):
        return Path(config.storage.removeprefix("sqlite:///")).resolve().parent
    if config.storage.startswith(JOURNAL_PREFIX):
        return Path(config.storage[len(JOURNAL_PREFIX) :]).resolve().parent
    return config.work_dir


def write_report(study: optuna.Study, config: StudyConfig) -> tuple[Path, Path]:
    """The study's HTML report (front per target with layer choices and accuracy intervals, the
    analyzer's findings, plots) and the CSV of all its trials, as ``dse.analyze`` writes them."""
    from dse.analysis import analyze, render_html
    from dse.core.files import atomic_write

    folder = report_folder(config)
    html_path, csv_path = folder / f"{study.study_name}-report.html", folder / f"{study.study_name}-trials.csv"
    analysis = analyze([study])
    for path, text in ((html_path, render_html(analysis)), (csv_path, analysis.frame.to_csv(index=False))):
        with atomic_write(path) as partial:
            Path(partial).write_text(text, encoding="utf-8")
    return html_path, csv_path
