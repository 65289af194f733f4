"""The TVM compile path: PyTorch model -> torch.export (or an ONNX file) -> Relax -> layers 3-5 -> tvm.compile.

Compilation never times a module (it only notes its own stages' seconds in
``info["build_stages_s"]``); it returns the path of an exported shared library.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.core.errors import FailureKind, TrialFailure, first_line

if TYPE_CHECKING:
    from torch import nn

    from search_spaces import BuildContext, TrialConfig
    from search_spaces.models import OnnxGraph


def import_to_relax(model: nn.Module, ctx: BuildContext) -> Any:
    """Export with torch.export (not from_fx: it mis-imports BatchNorm) and prepare for inference."""
    import torch
    from tvm.relax.frontend.torch import from_exported_program

    from search_spaces.models import for_inference

    try:
        exported = torch.export.export(model.eval(), (ctx.example_input,))
        mod = from_exported_program(exported, keep_params_as_input=False)
    except Exception as exc:  # unsupported operators surface here, from either library
        raise TrialFailure(FailureKind.COMPILE, f"import failed: {type(exc).__name__}: {first_line(exc)}") from exc
    return for_inference(mod)


def build_library(config: TrialConfig, model: nn.Module | OnnxGraph, ctx: BuildContext, library_path: str) -> int:
    """Apply layers 3 to 5 of ``config``, compile for the target, export; returns the library size."""
    return compile_module(prepare_module(config, model, ctx), ctx, library_path)


def prepare_module(config: TrialConfig, model: nn.Module | OnnxGraph, ctx: BuildContext) -> Any:
    """Layers 3 to 5 of ``config``: the scheduled all-TIR module that LLVM will compile."""
    return prepare_modules(config, model, ctx)[0]


def prepare_modules(
    config: TrialConfig, model: nn.Module | OnnxGraph, ctx: BuildContext, untuned_too: bool = False
) -> tuple[Any, Any | None]:
    """:func:`prepare_module`, and with ``untuned_too`` (for a costly tuning choice) the same
    lowered module on the untuned schedules as well: the build a tuned trial is checked against
    as a whole model (``None`` when the tuning choice is not costly)."""
    from search_spaces import layer_registries
    from search_spaces.models import OnnxGraph, import_onnx

    registries = layer_registries()
    choice = {layer: registries[layer].get(getattr(config, layer).name) for layer in registries}
    params = {layer: getattr(config, layer).param_dict for layer in registries}

    seconds: dict[str, float] = {}
    ctx.info["build_stages_s"] = seconds
    if isinstance(model, OnnxGraph):  # no PyTorch module: pruning is left out for it (NO_PYTORCH_MODULE)
        ctx.info["param_count"] = model.parameter_count()
        with _stage("import", "onnx", seconds):
            mod = import_onnx(model, tuple(ctx.example_input.shape))
        torch_model = None
    else:
        with _stage("pruning", config.pruning.name, seconds):
            torch_model = choice["pruning"].apply(model, params["pruning"], ctx)
        with _timed("import", seconds):
            mod = import_to_relax(torch_model, ctx)
    with _stage("precision", config.precision.name, seconds):
        mod = choice["precision"].apply(mod, torch_model, params["precision"], ctx)
    with _stage("algorithm", config.algorithm.name, seconds):
        mod = choice["algorithm"].lower(mod, params["algorithm"], ctx)
    with _stage("tuning", config.tuning.name, seconds):
        scheduled = choice["tuning"].schedule(mod, params["tuning"], ctx)
    if not (untuned_too and choice["tuning"].costly):
        return scheduled, None
    with _stage("tuning", "untuned", seconds):
        return scheduled, registries["tuning"].get("untuned").schedule(mod, {}, ctx)


@contextmanager
def _timed(name: str, seconds: dict[str, float]) -> Iterator[None]:
    """Adds the block's wall seconds to ``seconds[name]``: where a build's time goes, per stage."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - start, 3)


@contextmanager
def _stage(layer: str, choice: str, seconds: dict[str, float]) -> Iterator[None]:
    """A layer's passes that raise anything but a TrialFailure fail the build as a compile error
    naming the layer, the choice and the TVM pass that was running (not as "unexpected"); the
    stage's seconds are added to ``seconds[layer]``."""
    import tvm

    running: list[str] = []

    @tvm.instrument.pass_instrument
    class RunningPass:
        """Keeps the names of the passes entered and not yet left: the innermost one raised."""

        def run_before_pass(self, mod: Any, info: Any) -> None:
            running.append(str(info.name))

        def run_after_pass(self, mod: Any, info: Any) -> None:
            running.pop()

    current = tvm.transform.PassContext.current()
    context = tvm.transform.PassContext(
        opt_level=current.opt_level,
        required_pass=list(current.required_pass),
        disabled_pass=list(current.disabled_pass),
        config=dict(current.config),
        instruments=[*current.instruments, RunningPass()],
    )
    try:
        with context, _timed(layer, seconds):
            yield
    except (TrialFailure, MemoryError):
        raise
    except Exception as exc:  # TVM's InternalError and friends from a pass of that layer
        where = f" (in TVM pass {running[-1]})" if running else ""
        raise TrialFailure(
            FailureKind.COMPILE, f"{layer} {choice}{where} failed: {type(exc).__name__}: {first_line(exc)}"
        ) from exc


def load_on_runtime(config: TrialConfig, model: nn.Module | OnnxGraph, ctx: BuildContext, folder: Path) -> Any:
    """A trial on another runtime (``config.runtime`` is not TVM): layers 1-3 as for TVM (the
    pruned, fine-tuned PyTorch model), exported to ONNX, then built and loaded by that runtime at
    the trial's precision. Returns the loaded module (a ``HostCpuModule``)."""
    from search_spaces import layer_registries
    from search_spaces.models import OnnxGraph, export_onnx

    registries = layer_registries()
    runtime = registries["runtime"].get(config.runtime.name)
    seconds: dict[str, float] = {}
    ctx.info["build_stages_s"] = seconds
    if isinstance(model, OnnxGraph):
        onnx_path = model.path
        ctx.info["param_count"] = model.parameter_count()
    else:
        with _stage("pruning", config.pruning.name, seconds):
            pruned = registries["pruning"].get(config.pruning.name).apply(model, config.pruning.param_dict, ctx)
        with _stage("export", "onnx", seconds):
            onnx_path = export_onnx(pruned, ctx.example_input, folder / "model.onnx")
    with _stage("runtime", config.runtime.name, seconds):
        return runtime.load(onnx_path, config, ctx, folder)


def module_digest(mod: Any) -> str:
    """Structural hash of a prepared module, weights included: two configurations whose modules
    hash alike compile to the same code (a sparse algorithm on dense weights, a fallback)."""
    import tvm_ffi

    return f"{tvm_ffi.structural_hash(mod, map_free_vars=True) & (2**64 - 1):016x}"


def compile_module(mod: Any, ctx: BuildContext, library_path: str) -> int:
    """Compile a prepared module for the target and export it; returns the library size."""
    import tvm

    seconds: dict[str, float] = ctx.info.setdefault("build_stages_s", {})
    try:
        with _timed("tvm.compile", seconds):
            executable = tvm.compile(mod, ctx.tvm_target)
        with _timed("export", seconds):
            ctx.target.export_library(executable, library_path)
    except TrialFailure:
        raise
    except Exception as exc:  # TVMError and friends: the configuration does not build
        raise TrialFailure(FailureKind.COMPILE, f"{type(exc).__name__}: {first_line(exc)}") from exc
    return os.path.getsize(library_path)
