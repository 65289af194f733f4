"""From decision to deployment: a study's chosen build as a folder a device can run.

``python -m dse.export --out DIR`` picks a trial (``--trial N``, ``--min-accuracy X``: the
fastest at least that accurate, or by default the front's most accurate point that no faster
point ties), rebuilds its library for the study's target from the trial's record (compiled
libraries are not kept), runs the rebuilt library on the evaluation images on the study's
device and checks it classifies them exactly as the trial did, then writes:

- ``model.so``: the compiled library (cross-compiled for Arm targets);
- ``dse-bundle.json``: configuration, input and output shapes and dtypes, preprocessing, class
  names, the trial's accuracy (with its 95% interval) and latency, the check's, tool versions;
- ``run.py``: a standalone runner (TVM runtime and numpy only) that classifies image files.
"""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.core.errors import DseError, UsageError

if TYPE_CHECKING:
    import optuna

    from dse.core.config import StudyConfig
    from dse.core.record import EvaluationResult, TrialRecord

MANIFEST = "dse-bundle.json"
LIBRARY = "model.so"
RUNNER = "run.py"
FORMAT = "dse-bundle/1"


class ExportFailed(DseError):
    """The chosen trial could not be rebuilt as it was measured (exit 1; ``--out`` untouched)."""


def choose_trial(study: optuna.Study, number: int | None, min_accuracy: float | None) -> optuna.trial.FrozenTrial:
    """The trial to export (see the module docstring); a UsageError names what to ask instead."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise UsageError(f"Study {study.study_name!r} has no COMPLETE trial to export; run dse.optimize first")
    if number is not None:
        by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
        if number not in by_number:
            raise UsageError(f"Study {study.study_name!r} has no trial {number}; the summary's front lists trials")
        if by_number[number].state is not optuna.trial.TrialState.COMPLETE:
            raise UsageError(
                f"Trial {number} of {study.study_name!r} is {by_number[number].state.name}, not COMPLETE; "
                "export a measured trial (the summary's front lists them)"
            )
        return by_number[number]
    if min_accuracy is not None:
        accurate = [t for t in complete if t.values[0] >= min_accuracy]
        if not accurate:
            best = max(t.values[0] for t in complete)
            raise UsageError(
                f"No trial of {study.study_name!r} reaches accuracy {min_accuracy:g} (the best has {best:.4f}); "
                "lower --min-accuracy or name a --trial"
            )
        return min(accurate, key=lambda t: t.values[1])
    from dse.report import pareto_frame

    front = pareto_frame(study)
    untied = front[front["tie"] == ""]  # a tied point loses to the faster one it ties
    chosen = int(untied.sort_values(["accuracy", "latency_ms"], ascending=[False, True]).iloc[0]["trial"])
    return next(t for t in complete if t.number == chosen)


def check_out_folder(out: Path) -> None:
    """``--out`` must be a new or empty folder, or an earlier bundle (replaced): never a user's files."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; name a folder for the bundle")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise UsageError(f"--out {str(out)!r} holds other files; name a new or empty folder")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"--out {str(out)!r}: folder {str(parent)!r} does not exist; create it first")


def rebuild(config: StudyConfig, study: optuna.Study, trial: optuna.trial.FrozenTrial, library: Path) -> Any:
    """Compile ``trial``'s configuration again into ``library`` and evaluate it on the study's
    device (accuracy on the evaluation images, latency with the study's protocol)."""
    from dse.core.errors import TrialFailure
    from dse.core.record import TrialRecord
    from dse.remeasure import config_from_record
    from dse.study import rebuild_conflict
    from dse.worker import IsolatedRunner
    from objectives.evaluate import evaluate
    from objectives.request import EvaluationRequest
    from search_spaces.datasets import load_dataset
    from search_spaces.models import WeightsSpec, is_onnx_model, onnx_weights, resolve_weights

    record = TrialRecord.of(trial)
    assert record.config is not None
    trial_config = config_from_record(record.config)
    if trial_config.runtime.name != "tvm":
        raise UsageError(
            f"Trial {trial.number} ran on {trial_config.runtime.name}: dse.export writes TVM bundles only "
            "(exporting other runtimes' builds is not supported yet); export a trial of runtime tvm"
        )
    data = load_dataset(config.dataset, config.data_dir)
    if is_onnx_model(trial_config.model):
        weights = onnx_weights(trial_config.model)
    else:
        spec = WeightsSpec(config.weights, config.work_dir / "weights")
        weights = resolve_weights(trial_config.model, config.dataset, data, spec)
    conflict = rebuild_conflict(study, config, trial_config.model, weights)
    if conflict:
        raise UsageError(conflict.replace("this run", "this export").replace(" or choose a new --study-name", ""))
    request = EvaluationRequest.of_study(config, trial_config, weights, keep_library=library)
    runner = IsolatedRunner.with_threads(config.threads)
    try:
        return runner.call(evaluate, request, timeout_s=config.trial_timeout_s)
    except TrialFailure as failure:
        raise ExportFailed(
            f"Rebuilding trial {trial.number} failed ({failure.kind.value}): {failure.message}"
        ) from None
    finally:
        runner.close()


def _same_classification(record: TrialRecord, result: EvaluationResult) -> bool:
    """The rebuilt library classified every evaluation image as the trial's build did.

    Compared image by image through the predictions' digest; a record from before digests were
    kept can only be compared by its count of right answers on the same images.
    """
    if record.accuracy is None or result.accuracy is None or record.eval_size != result.eval_size:
        return False
    recorded = (record.info or {}).get("predictions_digest")
    if recorded is not None:
        return bool(recorded == result.info.get("predictions_digest"))
    size = result.eval_size or 0
    return round(record.accuracy * size) == round(result.accuracy * size)


def manifest(
    config: StudyConfig, study: optuna.Study, trial: optuna.trial.FrozenTrial, result: EvaluationResult
) -> dict[str, Any]:
    """The bundle's description: what it is, how to feed it, how it measured."""
    from dse.core.provenance import tool_versions
    from dse.core.record import TrialRecord
    from search_spaces.datasets import DATASETS, load_dataset
    from search_spaces.targets import TARGETS, host_cpu

    record = TrialRecord.of(trial)
    dataset = DATASETS.get(config.dataset)
    data = load_dataset(config.dataset, config.data_dir)
    channels, height, width = data.input_shape
    preset = TARGETS.get(config.target)
    latency = result.latency
    return {
        "format": FORMAT,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "study": study.study_name,
        "trial": trial.number,
        "target": config.target,
        "tvm_target": preset.tvm_target(config.threads),
        "device": "cuda" if config.target == "cuda" else "cpu",
        "library": LIBRARY,
        "config": record.config,
        "input": {"name": "x", "shape": [1, channels, height, width], "dtype": "float32", "layout": "NCHW"},
        "output": {"shape": [1, data.num_classes], "dtype": "float32", "meaning": "class scores (logits)"},
        "preprocessing": {**dataset.preprocessing.__dict__, "dataset": config.dataset},
        "classes": dataset.class_names(config.data_dir, data.num_classes),
        "measured": {
            "accuracy": record.accuracy,
            "accuracy_95ci": record.accuracy_ci,
            "eval_size": record.eval_size,
            "latency_ms": record.latency_ms,
            "latency_cv": (record.latency or {}).get("cv"),
            "threads": config.threads,
            "emulated": record.emulated,
        },
        "check": {
            "accuracy": result.accuracy,
            "eval_size": result.eval_size,
            "latency_ms": latency.median_ms if latency is not None else None,
            "same_classification": True,
            "device": _device_described(config, latency.emulated if latency is not None else False),
        },
        "host_cpu": host_cpu(),
        "versions": tool_versions(),
    }


def _device_described(config: StudyConfig, emulated: bool) -> str:
    where = config.device.rpc_server or config.device.rpc_tracker
    if where:
        return f"the {'emulated ' if emulated else ''}board at {where}"
    return "this host's GPU" if config.target == "cuda" else "this host's CPU"


def export_bundle(
    config: StudyConfig, study: optuna.Study, trial: optuna.trial.FrozenTrial, out: Path
) -> dict[str, Any]:
    """Rebuild, check and write the bundle of ``trial`` into ``out``; returns its manifest.

    Raises:
        UsageError: the options differ from the study's.
        ExportFailed: the rebuild fails, or the rebuilt library classifies the evaluation
            images otherwise than the trial did.
    """
    from dse.core.files import atomic_write
    from dse.core.record import TrialRecord
    from dse.export import runner

    check_out_folder(out)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        result = rebuild(config, study, trial, staging / LIBRARY)
        record = TrialRecord.of(trial)
        if not result.ok:
            kind = result.error_kind.value if result.error_kind else "error"
            raise ExportFailed(f"Rebuilding trial {trial.number} failed ({kind}): {result.error_message}")
        if not _same_classification(record, result):
            raise ExportFailed(
                f"The rebuilt library of trial {trial.number} classifies the evaluation images otherwise than the "
                f"trial did ({result.accuracy} vs {record.accuracy} on {result.eval_size} images): not the same build (did the weights, the data "
                "or dse change since?); re-run the study"
            )
        described = manifest(config, study, trial, result)
        with atomic_write(staging / MANIFEST) as partial:
            partial.write_text(json.dumps(described, indent=1, default=str) + "\n")
        shutil.copyfile(runner.__file__, staging / RUNNER)
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return described


__all__ = ["ExportFailed", "check_out_folder", "choose_trial", "export_bundle"]
