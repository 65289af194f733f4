"""Runs a validated StudyConfig: prepares data and weights, opens the study, searches, reports."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dse.core.errors import UsageError

if TYPE_CHECKING:
    import optuna

    from dse.core.config import StudyConfig
    from search_spaces import SearchSpace
    from search_spaces.models import ResolvedWeights


def pin_threads(threads: int) -> None:
    # TVM reads TVM_NUM_THREADS when its runtime starts: set it before anything imports tvm,
    # so TVM and PyTorch run with the same thread count (recorded with every latency).
    os.environ["TVM_NUM_THREADS"] = str(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def prepare_weights(config: StudyConfig) -> dict[str, ResolvedWeights]:
    """Resolve (training on first use where allowed) the weights of every model of the space."""
    from search_spaces import SearchSpace
    from search_spaces.datasets import load_dataset
    from search_spaces.models import (
        MODELS,
        NO_PYTORCH_MODULE,
        WeightsSpec,
        build_model,
        check_onnx_model,
        is_onnx_model,
        is_user_model,
        load_weights,
        onnx_weights,
        resolve_weights,
    )

    data = load_dataset(config.dataset, config.data_dir)
    print(f"Data: {data.limited(config.eval_limit).provenance}", flush=True)
    for model in config.space.models:
        if not is_user_model(model) and not is_onnx_model(model):
            MODELS.get(model)
    spec = WeightsSpec(config.weights, config.work_dir / "weights")
    resolved = {}
    pruning = [
        name for name in SearchSpace(config.space, config.dataset, config.target).choices["pruning"] if name != "none"
    ]
    for model in config.space.models:
        if is_onnx_model(model):
            check_onnx_model(model, data.num_classes, data.input_shape)
            resolved[model] = onnx_weights(model)
            if pruning:
                print(f"Model {model}: pruning ({', '.join(pruning)}) {NO_PYTORCH_MODULE}", flush=True)
            continue
        build_model(model, data.num_classes, data.input_shape)  # user factories fail here, before training
        resolved[model] = resolve_weights(model, config.dataset, data, spec)
        # A damaged or foreign checkpoint is a usage error now, not a failed trial in a worker later.
        load_weights(build_model(model, data.num_classes, data.input_shape), resolved[model])
    return resolved


def prepare(config: StudyConfig, space: SearchSpace) -> dict[str, ResolvedWeights]:
    """What every run needs before its first trial, checked before anything is stored.

    Pins the thread count, checks that the target's device answers (and, for ``--sampler
    grid``, that the space is small enough), creates the work folder and resolves the weights.
    ``dse.optimize`` and ``dse.compare`` both start here.
    """
    pin_threads(config.threads)
    from search_spaces.targets import TARGETS

    TARGETS.get(config.target).check_reachable(config.device)
    if config.sampler == "grid":
        from dse.study import check_grid_size

        check_grid_size(space)  # before anything is stored
    try:
        config.work_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--work-dir {str(config.work_dir)!r} cannot be created ({exc}); pick a writable folder"
        ) from None
    weights = prepare_weights(config)
    import torch

    torch.set_num_threads(config.threads)
    return weights


def run(config: StudyConfig) -> str:
    """Run the study to its budget and return the printable summary."""
    from search_spaces import SearchSpace

    space = SearchSpace(config.space, config.dataset, config.target)
    weights = prepare(config, space)
    from dse.engine import run_study
    from dse.report import summary
    from dse.study import create_or_load_study, enqueue_grid, redact

    study = create_or_load_study(config, space, weights)
    if config.sampler == "grid":
        enqueue_grid(study, space, config.seed, config.n_trials)
        config = _grid_budget(config, len(study.get_trials(deepcopy=False)))
    run_study(config, space, weights, study)
    verification = ""
    if config.verify:
        from dse.verify import verify_study

        verification = verify_study(config, space, weights, study)
    text = summary(study, redact(config.storage)) + (f"\n{verification}" if verification else "")
    return text if not config.report else f"{text}\n{_report_lines(study, config)}"


def _grid_budget(config: StudyConfig, queued_or_run: int) -> StudyConfig:
    """An exhaustive study's budget, at most its trials once every distinct configuration is
    queued or run: beyond that a trial could only repeat a configuration (from the cache)."""
    if config.n_trials <= queued_or_run:
        return config
    import sys
    from dataclasses import replace

    print(
        f"--sampler grid: every distinct configuration is run or queued in {queued_or_run} trials; "
        f"the study stops there, not at --n-trials {config.n_trials}",
        file=sys.stderr,
    )
    return replace(config, n_trials=queued_or_run)


def _report_lines(study: optuna.Study, config: StudyConfig) -> str:
    """Write the report beside the study; a failure to write it costs the report, not the study."""
    from dse.report import write_report

    try:
        html_path, csv_path = write_report(study, config)
    except OSError as exc:
        return f"Report not written ({exc}); run python -m dse.analyze --html FILE to write it elsewhere"
    return f"Report: {html_path} (open it in a browser)\nAll trials as CSV: {csv_path}"
