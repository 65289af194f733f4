"""Kernels whose timing depends on the values of their inputs: tuned on the model's own.

MetaSchedule times every candidate on random inputs. That is right for a dense kernel, whose
work does not depend on the values it reads, and wrong for a sparse one: its CSR/BSR
``indices`` and ``indptr`` arrays are inputs of the kernel (constants of the model, passed at
the call), so random ones read out of bounds (the default schedule's run fails and is not
timed) or describe another sparsity pattern (the candidates' times are not the model's: a
slice of the DLAS table had tuned sparse builds 1.5x and 4.1x slower than untuned).

So a sparse kernel's integer constants (its index arrays) are found at its call and given to
the runner, which times that kernel's candidates and its default schedule on them. Only sparse
kernels (named by the algorithm layer, ``SPARSE_KERNEL``): an int8 kernel's int32 constants
(its weight sums) decide nothing about what it reads, and marking it would orphan its records
and give it a runner of its own. Such kernels are marked with
:data:`MODEL_INPUTS_ATTR` before tasks are extracted: the mark changes their workload hash,
so records tuned on random index arrays by an earlier version are not applied.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: PrimFunc attribute naming the parameters that get the model's values when tuned.
MODEL_INPUTS_ATTR = "dse.tuned_on_model_inputs"
#: Constant dtypes whose values decide what a kernel reads (index arrays, offsets).
INDEX_DTYPES = ("int32", "int64")

#: Per kernel (PrimFunc name), its parameter position -> the model's value.
ModelInputs = dict[str, dict[int, np.ndarray]]


def integer_constants(mod: Any) -> ModelInputs:
    """Per sparse kernel called with integer constants (``R.call_tir(f, (x, const, ...))``),
    those constants by parameter position (the first call's, where one kernel has several)."""
    import tvm
    from tvm import relax

    from search_spaces.algorithms import SPARSE_KERNEL

    call_tir = tvm.ir.Op.get("relax.call_tir")
    found: ModelInputs = {}
    for func in mod.functions.values():
        if not isinstance(func, relax.Function):
            continue
        for block in getattr(func.body, "blocks", []):
            for binding in block.bindings:
                call = binding.value
                if not (isinstance(call, tvm.ir.Call) and call.op.same_as(call_tir)):
                    continue
                name = call.args[0].name_hint
                if SPARSE_KERNEL not in name:
                    continue
                arguments = call.args[1].fields if isinstance(call.args[1], relax.Tuple) else [call.args[1]]
                values = {
                    position: argument.value.numpy()
                    for position, argument in enumerate(arguments)
                    if isinstance(argument, tvm.ir.expr.Constant) and str(argument.ty.dtype) in INDEX_DTYPES
                }
                if values and name not in found:
                    found[name] = values
    return found


def mark_model_inputs(mod: Any) -> tuple[Any, ModelInputs]:
    """``mod`` with each sparse kernel called with integer constants marked
    (:data:`MODEL_INPUTS_ATTR`), and those constants per kernel name."""
    import tvm
    from tvm import tirx

    inputs = integer_constants(mod)
    if not inputs:
        return mod, inputs
    marked = tvm.IRModule(dict(mod.functions.items()), attrs=mod.attrs)
    for gvar, func in mod.functions.items():
        if isinstance(func, tirx.PrimFunc) and gvar.name_hint in inputs:
            marked[gvar] = func.with_attr(MODEL_INPUTS_ATTR, sorted(inputs[gvar.name_hint]))
    return marked, inputs


def with_model_inputs(repeated_args: list[list[Any]], device: Any, values: dict[int, np.ndarray]) -> list[list[Any]]:
    """MetaSchedule's allocated (random) arguments with ``values`` put in their positions."""
    import tvm

    for args in repeated_args:
        for position, value in values.items():
            args[position] = tvm.runtime.tensor(value, device)
    return repeated_args


def alloc_arguments(device: Any, args_info: Any, alloc_repeat: int, *, values: dict[int, np.ndarray]) -> Any:
    """LocalRunner's ``f_alloc_argument``: random arguments, the model's where given."""
    from tvm.s_tir.meta_schedule.runner.local_runner import default_alloc_argument

    return with_model_inputs(default_alloc_argument(device, args_info, alloc_repeat), device, values)


def alloc_arguments_over_rpc(
    session: Any, device: Any, args_info: Any, alloc_repeat: int, *, values: dict[int, np.ndarray]
) -> Any:
    """:func:`alloc_arguments` with the RPC runner's signature (the session comes first)."""
    from tvm.s_tir.meta_schedule.runner.rpc_runner import default_alloc_argument

    return with_model_inputs(default_alloc_argument(session, device, args_info, alloc_repeat), device, values)
