"""Trials as pandas frames: one row per trial, layer choices split into name, label and params.

Every analysis (fronts, pair effects, importance, reports, CSV) reads this one frame, so the
columns are defined once. Feasible rows (COMPLETE, with accuracy and latency) are the only ones
fronts and effects use; emulated latencies are kept apart by the ``emulated`` column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dse.core.errors import UsageError
from dse.core.files import stable_hash
from dse.core.layers import CHOICE_LAYERS, LAYERS, LEGACY_CHOICE
from dse.core.record import UNTUNED_CHECK, TrialRecord
from dse.core.stats import accuracy_interval
from search_spaces import LayerChoice

if TYPE_CHECKING:
    import optuna
    import pandas as pd


def _layer_label(layer: dict[str, Any] | None) -> str | None:
    if not layer:
        return None
    return LayerChoice.of(layer["name"], {k: v for k, v in layer.items() if k != "name"}).label()


#: How a trial's algorithm label names a fallback: the algorithm that ran, then what was asked.
_ASKED = " (asked "


def fallback_label(effective: str, asked: str) -> str:
    """The label of a trial that asked for the choice labelled ``asked`` and ran ``effective``."""
    return f"{effective}{_ASKED}{asked})"


def choice_that_ran(label: str) -> tuple[str, bool]:
    """The name of the choice a label's trial ran, and whether it is a fallback (:func:`fallback_label`)."""
    ran, asked = label.split(_ASKED, 1)[0], _ASKED in label
    return ran.split("(", 1)[0], asked


def config_key(config: dict[str, Any]) -> str:
    """A short hash of a configuration *without* its target: the same design on every platform."""
    body = {k: v for k, v in config.items() if k != "target"}
    return stable_hash(body, 12)


def config_label(row: Any) -> str:
    """``tiny_cnn | magnitude(sparsity=0.8) | int8 | direct(layout=nhwc) | untuned``, with
    ``[k/n kernels tuned]`` after a tuning that left some kernels on default schedules."""
    label = " | ".join(str(row[f"{layer}_label"]) for layer in LAYERS)
    tuned, total = row.get("tuned_kernels"), row.get("total_kernels")
    if total and tuned is not None and 0 < tuned < total:
        label += f" [{int(tuned)}/{int(total)} kernels tuned]"
    return label


def _interval(record: TrialRecord) -> list[float] | list[None]:
    """The record's accuracy interval (computed for trials recorded before intervals were)."""
    if record.accuracy_ci:
        return list(record.accuracy_ci)
    if record.accuracy is not None and record.eval_size:
        return list(accuracy_interval(record.accuracy, record.eval_size))
    return [None, None]


def _row(study_name: str, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    record = TrialRecord.of(trial)
    config: dict[str, Any] = record.config or {}
    row: dict[str, Any] = {
        "study": study_name,
        "trial": trial.number,
        "state": trial.state.name,
        "target": record.target or config.get("target"),
        "dataset": config.get("dataset"),
        "model": config.get("model"),
        "model_label": config.get("model"),
    }
    for layer in CHOICE_LAYERS:
        choice = config.get(layer) or ({"name": LEGACY_CHOICE[layer]} if layer in LEGACY_CHOICE and config else None)
        row[layer] = choice.get("name") if choice else None
        row[f"{layer}_label"] = _layer_label(choice)
    # The analysis credits the algorithm that ran, not the one asked for (a fallback-heavy
    # Winograd trial is a direct-convolution trial); the request is kept beside it.
    info = record.info or {}
    row["algorithm_requested"] = row["algorithm"]
    row["algorithm_flop_share"] = info.get("algorithm_flop_share")
    effective = info.get("effective_algorithm")
    if effective and effective != row["algorithm"]:
        row["algorithm"] = effective
        row["algorithm_label"] = fallback_label(effective, row["algorithm_label"])
    # A tuning that decided some kernels is that tuning (the count is in the config label: as
    # a label of its own it split one choice into several with few pairs each); one that
    # decided none built the untuned code, so it is credited to that, like an algorithm fallback,
    # and so is one whose untuned build ran faster as a whole model and was kept instead.
    kept_untuned = (info.get(UNTUNED_CHECK) or {}).get("kept") == "untuned"
    if (info.get("tuned_kernels") == 0 and info.get("total_kernels")) or kept_untuned:
        row["tuning"] = "untuned"
        row["tuning_label"] = fallback_label("untuned", row["tuning_label"])
    row.update(
        accuracy=record.accuracy,
        accuracy_low=_interval(record)[0],
        accuracy_high=_interval(record)[1],
        eval_size=record.eval_size,
        latency_ms=record.latency_ms,
        latency_cv=record.latency_cv,
        emulated=record.is_emulated,
        speedup_vs_untuned_fp32=record.speedup_vs_untuned_fp32,
        speedup_vs_torch_eager=record.speedup_vs_torch_eager,
        torch_eager_ms=record.torch_eager_ms,
        baseline_algorithm=record.baseline_algorithm,
        tuned_kernels=(record.info or {}).get("tuned_kernels"),
        total_kernels=(record.info or {}).get("total_kernels"),
        accuracy_drop=record.accuracy_drop,
        baseline_latency_ms=record.baseline_latency_ms,
        artifact_bytes=record.artifact_bytes,
        eval_time_s=sum((record.timings_s or {}).values()) or None,
        cache_hit=record.cache_hit,
        error_kind=record.error_kind,
        error_message=record.error_message,
        duration_s=trial.duration.total_seconds() if trial.duration is not None else None,
        config_key=config_key(config) if config else None,
    )
    row.update({f"param:{name}": value for name, value in trial.params.items()})
    return row


def trials_frame(studies: Iterable[tuple[str, Sequence[optuna.trial.FrozenTrial]]]) -> pd.DataFrame:
    """One row per trial of every ``(study name, trials)`` pair.

    Columns: study, trial, state, target, dataset, the layer columns (choice name: ``model``,
    ``pruning``, ``precision``, ``algorithm``, ``tuning``; with parameters: ``<layer>_label``),
    ``config`` (all labels), ``config_key`` (hash without target), accuracy with its 95% interval
    (``accuracy_low``, ``accuracy_high``) and ``eval_size``, latency_ms,
    latency_cv, emulated, ``speedup_vs_untuned_fp32`` (over the uncompressed fp32 model under its
    fastest default-scheduled algorithm, ``baseline_algorithm``), ``speedup_vs_torch_eager``,
    accuracy_drop, ``tuned_kernels`` of ``total_kernels``, timings, errors, and ``param:<name>`` for every
    Optuna parameter.
    """
    import pandas as pd

    rows = [_row(name, trial) for name, trials in studies for trial in trials]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    numeric = [
        "accuracy",
        "accuracy_low",
        "accuracy_high",
        "eval_size",
        "latency_ms",
        "latency_cv",
        "speedup_vs_untuned_fp32",
        "speedup_vs_torch_eager",
        "torch_eager_ms",
        "tuned_kernels",
        "total_kernels",
        "accuracy_drop",
        "baseline_latency_ms",
        "artifact_bytes",
        "eval_time_s",
        "duration_s",
    ]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    frame["config"] = frame.apply(config_label, axis=1)
    frame["feasible"] = (frame["state"] == "COMPLETE") & frame["accuracy"].notna() & frame["latency_ms"].notna()
    return frame


def feasible(frame: pd.DataFrame, *, emulated: bool | None = False, dedupe: bool = True) -> pd.DataFrame:
    """COMPLETE trials with both objectives; by default real measurements only, one row per
    (configuration, target): a configuration measured again (a cache hit) is not new evidence."""
    if frame.empty:
        return frame
    out = frame[frame["feasible"]]
    if emulated is not None:
        out = out[out["emulated"] == emulated]
    if dedupe:
        out = out.drop_duplicates(subset=["config_key", "target", "emulated"], keep="first")
    return out.reset_index(drop=True)


def load_studies(storage_url: str, names: Sequence[str] = ()) -> list[optuna.Study]:
    """Open the named studies (all of the storage's studies when ``names`` is empty).

    Raises:
        UsageError: the storage cannot be opened, holds no study, or lacks a named one.
    """
    import optuna

    from dse.study import open_storage, redact, require_existing_storage, validate_storage_url

    validate_storage_url(storage_url)
    require_existing_storage(storage_url)
    storage = open_storage(storage_url)
    available = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if not available:
        raise UsageError(f"--storage {redact(storage_url)!r} holds no study; run python -m dse.optimize first")
    for name in names:
        if name not in available:
            from difflib import get_close_matches

            close = get_close_matches(name, available, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"No study {name!r} in {redact(storage_url)!r}. Available: {', '.join(available)}.{hint}")
    return [optuna.load_study(study_name=name, storage=storage) for name in (names or available)]


def study_frame(studies: Sequence[optuna.Study]) -> pd.DataFrame:
    """The trials frame of several loaded studies."""
    return trials_frame((s.study_name, s.get_trials(deepcopy=False)) for s in studies)
