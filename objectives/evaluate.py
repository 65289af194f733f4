"""Evaluate one configuration: build, load on the device, score accuracy, time latency.

This is the composition root of a trial: the one place where build (``compile``), the device
(layer 6), accuracy and latency meet. It runs inside a worker process (``dse.worker``) so that
a crash or a hang in TVM costs one trial, not the study.

Locks (``search_spaces.targets.devices.identity``, host-wide): the whole evaluation holds the
host CPU shared, so compiles of other workers run beside it; timing holds the device exclusive,
so nothing of dse (of any study or work folder on this host) runs on the CPU while a latency
is taken, and a remote board or the GPU measures one module at a time.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from dse.core.errors import FailureKind, TrialFailure, first_line
from dse.core.files import atomic_copy
from dse.core.provenance import tool_versions
from dse.core.record import UNTUNED_CHECK, EvaluationResult
from objectives.request import EvaluationRequest

if TYPE_CHECKING:
    from dse.core.measure import LatencyStats
    from search_spaces import BuildContext
    from search_spaces.datasets import DataSplits
    from search_spaces.targets import LoadedModule


@functools.lru_cache(maxsize=4)
def _data(dataset: str, data_dir: Path | None, eval_limit: int | None) -> DataSplits:
    from search_spaces.datasets import load_dataset

    return load_dataset(dataset, data_dir, eval_limit)


def evaluate(request: EvaluationRequest) -> EvaluationResult:
    """Build and measure ``request.config``; failures come back inside the result."""
    from search_spaces.targets import cpu_work

    config = request.config
    timings: dict[str, float] = {}
    info: dict[str, object] = {}
    try:
        with cpu_work():
            return _evaluate(request, timings, info)
    except MemoryError:
        failure = TrialFailure(FailureKind.OOM, "evaluation ran out of memory (MemoryError)")
    except TrialFailure as caught:
        failure = caught
        if failure.kind is FailureKind.DEVICE:
            from search_spaces.targets import forget_session

            forget_session(config.target, request.device)
    return EvaluationResult(
        config.as_dict(),
        info=info,
        timings_s=timings,
        versions=tool_versions(),
        error_kind=failure.kind,
        error_message=failure.message,
    )


def _device_lock(request: EvaluationRequest) -> AbstractContextManager[None]:
    """Held while the device runs the module (accuracy): see the module docstring."""
    from search_spaces.targets import TARGETS, device_lock

    target = request.config.target
    return device_lock(target, request.device, TARGETS.get(target).measured_on_host_cpu)


def _measurement_lock(request: EvaluationRequest) -> AbstractContextManager[None]:
    """Held while a latency is taken: nothing else of dse runs on that device meanwhile."""
    from search_spaces.targets import TARGETS, measurement_lock

    target = request.config.target
    return measurement_lock(target, request.device, TARGETS.get(target).measured_on_host_cpu)


def remeasure_library(request: EvaluationRequest, library: str) -> tuple[LatencyStats, dict[str, object]]:
    """Time an already compiled library again (under the device lock); no compilation."""
    from objectives.latency import measure_stable
    from search_spaces.targets import forget_session, open_session

    info: dict[str, object] = {}
    data = _data(request.config.dataset, request.data_dir, request.eval_limit)
    with _measurement_lock(request):
        device = open_session(request.config.target, request.device)
        try:
            latency = measure_stable(device.load(library), data, request.measure, info)
        except (RuntimeError, OSError, ValueError) as exc:  # TVM errors are RuntimeErrors in 0.27
            forget_session(request.config.target, request.device)
            raise _device_failure(request, exc) from exc
    return latency, info


def _device_failure(request: EvaluationRequest, exc: BaseException) -> TrialFailure:
    """A failure while the device ran the module: retryable for a remote board (it may come
    back), a runtime error on the host; the message names the board, so a user knows which."""
    from search_spaces.targets.devices.rpc import endpoint

    message = f"{type(exc).__name__}: {first_line(exc)}"
    if request.device.remote:
        return TrialFailure(FailureKind.DEVICE, f"{endpoint(request.device)}: {message}")
    return TrialFailure(FailureKind.RUNTIME, message)


def _score_and_time(
    request: EvaluationRequest,
    open_module: Callable[[], LoadedModule],
    data: DataSplits,
    timings: dict[str, float],
    info: dict[str, object],
    beside_latency: Callable[[], None] | None = None,
    open_untuned: Callable[[], LoadedModule] | None = None,
) -> tuple[float, LatencyStats, bool]:
    """Under the device lock (an upload to a board belongs to the session that holds it): open
    the module, take its latency under the measurement lock, then score the accuracy of the
    build kept; ``beside_latency`` (PyTorch's own timing) runs under the measurement lock too,
    on the same quiet machine.

    ``open_untuned``: a tuned trial's untuned build of the same configuration, timed beside
    it; the faster of the two is kept, scored and reported (the third value: the untuned one
    was kept). Tuning keeps the faster schedule kernel by kernel, each timed alone, but
    kernels that each win alone can lose together (cache and prefetch behaviour between them:
    a sparse CSR model measured 1.15x slower tuned although each of its kernels was faster),
    and a user ships the faster build."""
    from objectives.accuracy import classify
    from objectives.latency import measure_stable

    start = time.perf_counter()
    with _device_lock(request):
        timings["device_wait"] = time.perf_counter() - start
        loaded = open_module()
        untuned = open_untuned() if open_untuned is not None else None
        start = time.perf_counter()
        with _measurement_lock(request):
            timings["measure_wait"] = time.perf_counter() - start
            start = time.perf_counter()
            latency = measure_stable(loaded, data, request.measure, info)
            kept_untuned = False
            if untuned is not None:
                # Two rounds, alternating (tuned, untuned, tuned, untuned): the two builds are
                # compared on the sum of their medians, so a spell of noise during one timing
                # does not decide; each build reports its first round, as any trial does.
                untuned_info: dict[str, object] = {}
                untuned_latency = measure_stable(untuned, data, request.measure, untuned_info)
                tuned_again = measure_stable(loaded, data, request.measure, {})
                untuned_again = measure_stable(untuned, data, request.measure, {})
                tuned_ms = (latency.median_ms, tuned_again.median_ms)
                untuned_ms = (untuned_latency.median_ms, untuned_again.median_ms)
                kept_untuned = sum(untuned_ms) < sum(tuned_ms)
                info[UNTUNED_CHECK] = {
                    "tuned_ms": list(tuned_ms),
                    "untuned_ms": list(untuned_ms),
                    "kept": "untuned" if kept_untuned else "tuned",
                }
                if kept_untuned:
                    loaded, latency = untuned, untuned_latency
                    info.update(untuned_info)
            timings["measure"] = time.perf_counter() - start
            if beside_latency is not None:
                beside_latency()
        start = time.perf_counter()
        classification = classify(loaded, data)
        info["predictions_digest"] = classification.digest
        timings["accuracy"] = time.perf_counter() - start
    return classification.accuracy, latency, kept_untuned


def _evaluate_on_runtime(
    request: EvaluationRequest, model: object, ctx: BuildContext, timings: dict[str, float], info: dict[str, object]
) -> EvaluationResult:
    """A trial on ONNX Runtime or OpenVINO: built by that runtime, scored and timed as TVM's are."""
    from objectives.compile import load_on_runtime

    config, data = request.config, ctx.data
    with tempfile.TemporaryDirectory(prefix="dse-runtime-") as folder:
        start = time.perf_counter()
        loaded = load_on_runtime(config, model, ctx, Path(folder))  # type: ignore[arg-type]
        timings["compile"] = time.perf_counter() - start
        artifact_bytes = sum(f.stat().st_size for f in Path(folder).iterdir() if f.is_file())
        try:
            accuracy, latency, _ = _score_and_time(request, lambda: loaded, data, timings, info)
        except (RuntimeError, OSError, ValueError) as exc:  # the runtime's own errors
            raise TrialFailure(
                FailureKind.RUNTIME, f"{config.runtime.name}: {type(exc).__name__}: {first_line(exc)}"
            ) from exc
    return EvaluationResult(
        config=config.as_dict(),
        accuracy=accuracy,
        eval_size=len(data.eval_y),
        latency=latency,
        artifact_bytes=artifact_bytes or None,
        info=info,
        timings_s=timings,
        versions=tool_versions(),
    )


def _evaluate(request: EvaluationRequest, timings: dict[str, float], info: dict[str, object]) -> EvaluationResult:
    import tvm

    from objectives import build_store
    from objectives.compile import compile_module, module_digest, prepare_modules
    from objectives.latency import torch_eager_latency
    from search_spaces import BuildContext, layer_registries
    from search_spaces.models import build_model, is_onnx_model, load_model, load_weights
    from search_spaces.targets import TARGETS, open_session

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
        measure=request.measure,
        tuning_db=request.tuning_db or request.work_dir / "tuning" / config.target,
        info=info,
    )
    model = load_model(config.model, data, request.weights)
    if not layer_registries()["runtime"].get(config.runtime.name).uses_tvm:
        return _evaluate_on_runtime(request, model, ctx, timings, info)

    start = time.perf_counter()
    mod, untuned_mod = prepare_modules(config, model, ctx, untuned_too=True)
    timings["prepare"] = time.perf_counter() - start
    # Reuse needs no library; a reference build also times PyTorch, which a stored entry lacks.
    reusable = request.keep_library is None and not request.time_torch_eager
    digest = module_digest(mod) + ("" if untuned_mod is None else f"|checked against {module_digest(untuned_mod)}")
    build = build_store.build_key(request, digest, dict(ctx.tvm_target.export()))
    info["build_digest"] = build
    stored = build_store.load(request.work_dir, build) if reusable else None
    if stored is not None:
        info["reused_build_of"] = stored["config"]
        info.update(stored.get("info") or {})
        return EvaluationResult(
            config=config.as_dict(),
            accuracy=stored["accuracy"],
            eval_size=stored["eval_size"],
            latency=stored["latency"],
            artifact_bytes=stored["artifact_bytes"],
            info=info,
            timings_s=timings,
            versions=tool_versions(),
        )

    with tempfile.TemporaryDirectory(prefix="dse-build-") as build_dir:
        library = str(Path(build_dir) / "model.so")
        start = time.perf_counter()
        artifact_bytes = compile_module(mod, ctx, library)
        timings["compile"] = time.perf_counter() - start + timings["prepare"]
        untuned_library = str(Path(build_dir) / "untuned.so")
        untuned_bytes = 0
        if untuned_mod is not None:
            start = time.perf_counter()
            untuned_bytes = compile_module(untuned_mod, ctx, untuned_library)
            timings["compile_untuned"] = time.perf_counter() - start

        def open_module(path: str = library) -> LoadedModule:
            return open_session(config.target, request.device).load(path)

        def time_torch_eager() -> None:
            fresh = load_weights(build_model(config.model, data.num_classes, data.input_shape), request.weights)
            eager = torch_eager_latency(fresh, data.eval_x[:1], request.measure, request.threads)
            info["torch_eager"] = {"median_ms": eager.median_ms, "cv": eager.cv, "threads": eager.threads}

        eager_possible = target.measured_on_host_cpu and not request.device.remote and not is_onnx_model(config.model)
        try:
            accuracy, latency, kept_untuned = _score_and_time(
                request,
                open_module,
                data,
                timings,
                info,
                beside_latency=time_torch_eager if request.time_torch_eager and eager_possible else None,
                open_untuned=(lambda: open_module(untuned_library)) if untuned_mod is not None else None,
            )
        except TrialFailure:
            raise
        except (RuntimeError, OSError, ValueError) as exc:  # TVM errors are RuntimeErrors in 0.27
            raise _device_failure(request, exc) from exc
        if kept_untuned:
            library, artifact_bytes = untuned_library, untuned_bytes
        if request.keep_library is not None:
            atomic_copy(library, request.keep_library)

    kept = {UNTUNED_CHECK: info[UNTUNED_CHECK]} if UNTUNED_CHECK in info else {}
    build_store.save(
        request.work_dir, build, config.as_dict(), accuracy, len(data.eval_y), latency, artifact_bytes, kept
    )
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
