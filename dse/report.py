"""The end-of-study summary: the Pareto front, layer by layer, as a table a person can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    import pandas as pd

from search_spaces._space import CHOICE_LAYERS, LayerChoice


def _label(layer: dict) -> str:
    params = {k: v for k, v in layer.items() if k != "name"}
    return LayerChoice.of(layer["name"], params).label()


def trials_frame(trials: list[optuna.trial.FrozenTrial]) -> pd.DataFrame:
    """One row per trial: its layer choices, objectives and speedup."""
    import pandas as pd

    rows = []
    for trial in trials:
        config = trial.user_attrs.get("config", {})
        row = {"trial": trial.number, "model": config.get("model")}
        row.update({layer: _label(config[layer]) for layer in CHOICE_LAYERS if layer in config})
        row["accuracy"] = trial.user_attrs.get("accuracy")
        row["latency_ms"] = trial.user_attrs.get("latency_ms")
        row["speedup"] = trial.user_attrs.get("speedup")
        row["emulated"] = trial.user_attrs.get("emulated", False)
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_frame(study: optuna.Study) -> pd.DataFrame:
    """The study's Pareto front (COMPLETE trials only), fastest first, duplicates of a configuration merged."""
    frame = trials_frame(study.best_trials)
    if frame.empty:
        return frame
    key = ["model", *CHOICE_LAYERS]
    return frame.sort_values("latency_ms").drop_duplicates(subset=key).reset_index(drop=True)


def summary(study: optuna.Study, storage_shown: str) -> str:
    import optuna

    states = [t.state for t in study.get_trials(deepcopy=False)]
    counts = {state.name: states.count(state) for state in optuna.trial.TrialState if states.count(state)}
    lines = [f"Study {study.study_name!r}: {len(states)} trials ({', '.join(f'{k} {v}' for k, v in counts.items())})"]
    front = pareto_frame(study)
    if front.empty:
        lines.append("No COMPLETE trial yet: no Pareto front.")
    else:
        lines.append("Pareto front (accuracy up, latency down):")
        lines.append(
            front.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")
        )
    lines.append(f"Stored in {storage_shown} (study name {study.study_name!r}).")
    lines.append(f"Inspect: optuna-dashboard {storage_shown}")
    return "\n".join(lines)
