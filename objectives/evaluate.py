"""Evaluate one configuration: build, load on the device, score accuracy, time latency.

This is the composition root of a trial's work; it runs inside a worker process (see
``dse._worker``) so that a crash or a hang in TVM costs one trial, not the study. Compilation
runs freely in parallel with other workers; loading, scoring and timing hold the device's lock
(``dse._locks``), so one device measures one module at a time.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dse._locks import device_identity, file_lock, lock_path
from dse.config import DeviceOptions, MeasureConfig
from dse.errors import FailureKind, TrialFailure, first_line
from objectives._result import EvaluationResult, LatencyStats

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
    #: Where to keep a copy of the compiled library (re-measurement of the Pareto front).
    keep_library: Path | None = None


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
    except MemoryError:
        failure = TrialFailure(FailureKind.OOM, "evaluation ran out of memory (MemoryError)")
    except TrialFailure as caught:
        failure = caught
        if failure.kind is FailureKind.DEVICE:
            forget_device(config.target, request.device)
    return EvaluationResult(
        config.as_dict(), info=info, timings_s=timings, versions=tool_versions(),
        error_kind=failure.kind, error_message=failure.message,
    )


def _device_lock(request: EvaluationRequest) -> AbstractContextManager[None]:
    options = request.device
    identity = device_identity(request.config.target, options.rpc_tracker, options.rpc_key, options.rpc_server)
    return file_lock(lock_path(request.work_dir, "device", identity))


def measure_stable(loaded: object, data: DataSplits, measure: MeasureConfig, info: dict[str, object]) -> LatencyStats:
    """Time the module; a noisy measurement (cv above ``measure.max_cv``) is taken again.

    Up to ``measure.max_remeasure`` extra attempts; the least dispersed one is kept, and the raw
    samples of the others go to ``info["latency_rejected"]``, so no sample is thrown away.
    """
    from objectives.latency import measure_latency

    attempts = [measure_latency(loaded, data, measure)]  # type: ignore[arg-type]
    while attempts[-1].cv > measure.max_cv and len(attempts) <= measure.max_remeasure:
        attempts.append(measure_latency(loaded, data, measure))  # type: ignore[arg-type]
    kept = min(attempts, key=lambda stats: stats.cv)
    info["latency_attempts"] = len(attempts)
    info["latency_noisy"] = kept.cv > measure.max_cv
    rejected = [{"cv": a.cv, "median_ms": a.median_ms, "samples_ms": list(a.samples_ms)} for a in attempts if a is not kept]
    if rejected:
        info["latency_rejected"] = rejected
    return kept


def remeasure_library(request: EvaluationRequest, library: str) -> tuple[LatencyStats, dict[str, object]]:
    """Time an already compiled library again (under the device lock); no compilation."""
    info: dict[str, object] = {}
    data = _data(request.config.dataset, request.data_dir, request.eval_limit)
    with _device_lock(request):
        device = _device(request.config.target, request.device)
        try:
            latency = measure_stable(device.load(library), data, request.measure, info)
        except (RuntimeError, OSError, ValueError) as exc:  # TVM errors are RuntimeErrors in 0.27
            forget_device(request.config.target, request.device)
            raise TrialFailure(FailureKind.DEVICE if device.remote else FailureKind.RUNTIME, first_line(exc)) from exc
    return latency, info


def _keep(library: str, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(f".{os.getpid()}.part")
    shutil.copyfile(library, partial)
    os.replace(partial, destination)  # atomic: never a half-written library


def _evaluate(request: EvaluationRequest, timings: dict[str, float], info: dict[str, object]) -> EvaluationResult:
    import tvm

    from objectives.accuracy import top1_accuracy
    from objectives.compile import build_library
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
        if request.keep_library is not None:
            _keep(library, request.keep_library)

        start = time.perf_counter()
        with _device_lock(request):
            timings["device_wait"] = time.perf_counter() - start
            device = _device(config.target, request.device)
            try:
                loaded = device.load(library)
                start = time.perf_counter()
                accuracy = top1_accuracy(loaded, data)
                timings["accuracy"] = time.perf_counter() - start
                start = time.perf_counter()
                latency = measure_stable(loaded, data, request.measure, info)
                timings["measure"] = time.perf_counter() - start
            except TrialFailure:
                raise
            except (RuntimeError, OSError, ValueError) as exc:  # TVM errors are RuntimeErrors in 0.27
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
