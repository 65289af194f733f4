"""Evaluate one configuration: build, load on the device, score accuracy, time latency.

This is the composition root of a trial's work; it runs inside a worker process (see
``dse._worker``) so that a crash or a hang in TVM costs one trial, not the study.
"""

from __future__ import annotations

import functools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dse.config import DeviceOptions, MeasureConfig
from dse.errors import FailureKind, TrialFailure, first_line
from objectives._result import EvaluationResult

if TYPE_CHECKING:
    from dse.devices import Device
    from search_spaces import TrialConfig
    from search_spaces.datasets import DataSplits
    from search_spaces.models._weights import ResolvedWeights


@dataclass(frozen=True)
class EvaluationRequest:
    """Everything a worker needs to evaluate ``config`` (picklable)."""

    config: TrialConfig
    weights: ResolvedWeights
    data_dir: Path | None
    eval_limit: int | None
    work_dir: Path
    threads: int
    measure: MeasureConfig
    device: DeviceOptions
    tuning_db: Path | None = None


def tool_versions() -> dict[str, str]:
    """Versions that change compiled code or measurements; part of every cache key."""
    import importlib.metadata as md

    packages = ("apache-tvm", "apache-tvm-ffi", "torch", "torchvision", "numpy", "dse")
    versions = {}
    for package in packages:
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


@functools.lru_cache(maxsize=4)
def _data(dataset: str, data_dir: Path | None, eval_limit: int | None) -> DataSplits:
    from search_spaces.datasets import load_dataset

    return load_dataset(dataset, data_dir, eval_limit)


_devices: dict[tuple[str, DeviceOptions], Device] = {}


def _device(target: str, options: DeviceOptions) -> Device:
    """One open session per (target, device) per worker process."""
    from search_spaces.targets import TARGETS

    key = (target, options)
    if key not in _devices:
        _devices[key] = TARGETS.get(target).open_device(options)
    return _devices[key]


def forget_device(target: str, options: DeviceOptions) -> None:
    """Drop a session that failed, so the next trial reconnects."""
    device = _devices.pop((target, options), None)
    if device is not None:
        device.close()


def evaluate(request: EvaluationRequest) -> EvaluationResult:
    """Build and measure ``request.config``; failures come back inside the result."""
    config = request.config
    timings: dict[str, float] = {}
    info: dict[str, object] = {}
    try:
        return _evaluate(request, timings, info)
    except TrialFailure as failure:
        if failure.kind is FailureKind.DEVICE:
            forget_device(config.target, request.device)
        return EvaluationResult(
            config.as_dict(), info=info, timings_s=timings, versions=tool_versions(),
            error_kind=failure.kind, error_message=failure.message,
        )


def _evaluate(request: EvaluationRequest, timings: dict[str, float], info: dict[str, object]) -> EvaluationResult:
    import tvm

    from objectives.accuracy import top1_accuracy
    from objectives.compile import build_library
    from objectives.latency import measure_latency
    from search_spaces._context import BuildContext
    from search_spaces.models import build_model
    from search_spaces.models._weights import load_weights
    from search_spaces.targets import TARGETS

    config = request.config
    data = _data(config.dataset, request.data_dir, request.eval_limit)
    target = TARGETS.get(config.target)
    ctx = BuildContext(
        dataset=config.dataset,
        data=data,
        model_key=f"{config.model}-{request.weights.sha256[:16]}",
        work_dir=request.work_dir,
        target=target,
        tvm_target=tvm.target.Target(target.tvm_target(request.threads)),
        threads=request.threads,
        device_options=request.device,
        tuning_db=request.tuning_db or request.work_dir / "tuning" / config.target,
        info=info,
    )
    model = load_weights(build_model(config.model, data.num_classes, data.input_shape), request.weights)

    with tempfile.TemporaryDirectory(prefix="dse-build-") as build_dir:
        library = str(Path(build_dir) / "model.so")
        start = time.perf_counter()
        artifact_bytes = build_library(config, model, ctx, library)
        timings["compile"] = time.perf_counter() - start

        device = _device(config.target, request.device)
        try:
            loaded = device.load(library)
            start = time.perf_counter()
            accuracy = top1_accuracy(loaded, data)
            timings["accuracy"] = time.perf_counter() - start
            start = time.perf_counter()
            latency = measure_latency(loaded, data, request.measure)
            timings["measure"] = time.perf_counter() - start
        except TrialFailure:
            raise
        except (tvm.error.TVMError, OSError, ConnectionError) as exc:
            kind = FailureKind.DEVICE if device.remote else FailureKind.RUNTIME
            raise TrialFailure(kind, f"{type(exc).__name__}: {first_line(exc)}") from exc

    return EvaluationResult(
        config=config.as_dict(),
        accuracy=accuracy,
        eval_size=len(data.eval_y),
        latency=latency,
        artifact_bytes=artifact_bytes,
        info=info,
        timings_s=timings,
        versions=tool_versions(),
    )
