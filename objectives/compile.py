"""The TVM compile path: PyTorch model -> torch.export -> Relax -> layers 3-5 -> tvm.compile.

Compilation never times anything; it returns the path of an exported shared library.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dse.core.errors import FailureKind, TrialFailure, first_line

if TYPE_CHECKING:
    from torch import nn

    from search_spaces import BuildContext, TrialConfig


def import_to_relax(model: nn.Module, ctx: BuildContext) -> Any:
    """Export with torch.export (not from_fx: it mis-imports BatchNorm) and prepare for inference."""
    import torch
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    try:
        exported = torch.export.export(model.eval(), (ctx.example_input,))
        mod = from_exported_program(exported, keep_params_as_input=False)
    except Exception as exc:  # unsupported operators surface here, from either library
        raise TrialFailure(FailureKind.COMPILE, f"import failed: {type(exc).__name__}: {first_line(exc)}") from exc
    mod = relax.transform.DecomposeOpsForInference()(mod)
    return relax.transform.CanonicalizeBindings()(mod)


def build_library(config: TrialConfig, model: nn.Module, ctx: BuildContext, library_path: str) -> int:
    """Apply layers 3 to 5 of ``config``, compile for the target, export; returns the library size."""
    return compile_module(prepare_module(config, model, ctx), ctx, library_path)


def prepare_module(config: TrialConfig, model: nn.Module, ctx: BuildContext) -> Any:
    """Layers 3 to 5 of ``config``: the scheduled all-TIR module that LLVM will compile."""
    from search_spaces import layer_registries

    registries = layer_registries()
    choice = {layer: registries[layer].get(getattr(config, layer).name) for layer in registries}
    params = {layer: getattr(config, layer).param_dict for layer in registries}

    model = choice["pruning"].apply(model, params["pruning"], ctx)
    mod = import_to_relax(model, ctx)
    mod = choice["precision"].apply(mod, model, params["precision"], ctx)
    mod = choice["algorithm"].lower(mod, params["algorithm"], ctx)
    return choice["tuning"].schedule(mod, params["tuning"], ctx)


def module_digest(mod: Any) -> str:
    """Structural hash of a prepared module, weights included: two configurations whose modules
    hash alike compile to the same code (a sparse algorithm on dense weights, a fallback)."""
    import tvm_ffi

    return f"{tvm_ffi.structural_hash(mod, map_free_vars=True) & (2**64 - 1):016x}"


def compile_module(mod: Any, ctx: BuildContext, library_path: str) -> int:
    """Compile a prepared module for the target and export it; returns the library size."""
    import tvm

    try:
        executable = tvm.compile(mod, ctx.tvm_target)
        ctx.target.export_library(executable, library_path)
    except TrialFailure:
        raise
    except Exception as exc:  # TVMError and friends: the configuration does not build
        raise TrialFailure(FailureKind.COMPILE, f"{type(exc).__name__}: {first_line(exc)}") from exc
    return os.path.getsize(library_path)
