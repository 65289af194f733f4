"""Constant folding that does not build an LLVM module for every folded expression.

``relax.transform.FoldConstant`` legalizes every call of a module (foldable or not) and builds
each distinct PrimFunc whose arguments are all constants with LLVM, then runs it: 15-30 ms a
fold. Importing a model with trained batch norms folded that way for 5-6 s (ResNet-18) to 14-16 s
(MobileNetV2, ShuffleNetV2): the batch-norm fold's reshapes, adds, square roots, divides and
multiplies; the packed layout flow's bias layout transforms took 1-2 s more. Those are data
movement and IEEE float arithmetic, which numpy does exactly and in microseconds.

:func:`fold_constants` evaluates them in numpy, inlines every constant into its uses and drops
the bindings left unused (what FoldConstant does), and runs FoldConstant afterwards only where
a call on constants is left that numpy does not evaluate here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

#: Elementwise arithmetic evaluated in numpy on floating-point constants only: IEEE float32 /
#: float16 results are the same as the LLVM build's; integer division and overflow rules differ.
_FLOAT_ARITHMETIC: dict[str, Callable[..., np.ndarray]] = {
    "relax.add": np.add,
    "relax.subtract": np.subtract,
    "relax.multiply": np.multiply,
    "relax.divide": np.divide,
    "relax.sqrt": np.sqrt,
    "relax.negative": np.negative,
}

#: Ops that only move data: any dtype, the result's shape read from the call's type.
_RESHAPES = {"relax.reshape", "relax.expand_dims", "relax.squeeze", "relax.flatten"}

_EVALUATED = {*_FLOAT_ARITHMETIC, *_RESHAPES, "relax.permute_dims", "relax.layout_transform"}


def fold_constants(mod: Any) -> Any:
    """``mod`` with every call on constants replaced by its value (as FoldConstant would)."""
    from tvm import relax

    folder = _make_folder_class()(mod)
    mod = mod.clone()  # a pass's input stays as it was (FoldConstant's does too)
    for var, func in list(mod.functions.items()):
        if isinstance(func, relax.Function):
            mod[var] = relax.analysis.remove_all_unused(folder.visit_expr(func))
    if any(_calls_on_constants(func) for func in mod.functions.values() if isinstance(func, relax.Function)):
        return relax.transform.FoldConstant()(mod)
    return mod


def evaluate(call: Any) -> np.ndarray | None:
    """The value of ``call`` if it is an op numpy evaluates here and every tensor argument is a
    constant; else ``None`` (left to FoldConstant, or not foldable)."""
    import tvm

    op = call.op
    if not isinstance(op, tvm.ir.Op) or str(op.name) not in _EVALUATED or not hasattr(call.ty, "dtype"):
        return None
    tensors = [arg for arg in call.args if _is_tensor(arg)]
    if not tensors or not all(map(_is_tensor_constant, tensors)):
        return None  # checked before any constant is copied out (a conv's weight, say)
    shape = _static_shape(call.ty.shape)
    if shape is None:
        return None
    name, dtype = str(op.name), str(call.ty.dtype)
    values = [value for value in map(_constant_value, call.args) if value is not None]
    result: np.ndarray | None = None
    if name in _FLOAT_ARITHMETIC:
        if len(values) == len(call.args) and _floating(dtype, values):
            result = _FLOAT_ARITHMETIC[name](*values)
    elif len(values) != 1:
        return None
    elif name in _RESHAPES:
        result = values[0].reshape(shape)
    elif name == "relax.permute_dims":
        axes = call.attrs.axes
        result = np.transpose(values[0], None if axes is None else [int(a) for a in axes])
    else:  # relax.layout_transform
        result = _layout_transform(call, values[0], shape)
    if result is None or tuple(result.shape) != shape:
        return None
    return np.ascontiguousarray(result.astype(dtype, copy=False))


def _layout_transform(call: Any, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """A layout transform that only rearranges elements (no padding): each element's destination
    from the index map's expressions, evaluated on numpy index arrays. (``IndexMap.map_tensor``
    does the same element by element: 0.6 s for a 512-channel bias.)"""
    if int(np.prod(shape, dtype=np.int64)) != value.size:
        return None  # padded: the pad value is FoldConstant's to handle
    index_map = call.attrs.index_map
    sources = np.indices(value.shape)
    env = {var: sources[axis] for axis, var in enumerate(index_map.initial_indices)}
    destinations = [_index_values(expr, env) for expr in index_map.final_indices]
    if any(d is None for d in destinations) or len(destinations) != len(shape):
        return None
    result = np.empty(shape, dtype=value.dtype)
    result[tuple(destinations)] = value
    return result


def _index_values(expr: Any, env: dict[Any, np.ndarray]) -> np.ndarray | None:
    """An index expression (variables, integers, + - * floordiv floormod) over numpy arrays of
    index values; ``None`` for any other expression."""
    from tvm import tirx

    if isinstance(expr, tirx.Var):
        return env.get(expr)
    if isinstance(expr, tirx.IntImm):
        return np.asarray(int(expr.value))
    function = _index_arithmetic().get(type(expr))
    if function is None:
        return None
    a, b = _index_values(expr.a, env), _index_values(expr.b, env)
    return None if a is None or b is None else function(a, b)


@functools.cache
def _index_arithmetic() -> dict[type, Callable[..., np.ndarray]]:
    """TIR's index operators and their numpy twins (built once, lazily: TVM loads on first use).
    numpy's floor_divide and mod round toward minus infinity, as TIR's floordiv and floormod."""
    from tvm import tirx

    return {
        tirx.Add: np.add,
        tirx.Sub: np.subtract,
        tirx.Mul: np.multiply,
        tirx.FloorDiv: np.floor_divide,
        tirx.FloorMod: np.mod,
    }


def _constant_value(expr: Any) -> np.ndarray | None:
    """The array of a constant tensor, or of a scalar constant (the batch-norm fold's epsilon is a
    ``T.float32``), in its own dtype; ``None`` for anything else."""
    import tvm

    if _is_tensor_constant(expr):
        return expr.value.numpy()
    if isinstance(expr, tvm.tirx.FloatImm | tvm.tirx.IntImm):
        return np.array(expr.value, dtype=str(expr.ty.dtype))
    return None


def _is_tensor_constant(expr: Any) -> bool:
    import tvm

    return isinstance(expr, tvm.ir.expr.Constant) and isinstance(expr.value, tvm.runtime.Tensor)


def _is_tensor(expr: Any) -> bool:
    return hasattr(getattr(expr, "ty", None), "dtype") and hasattr(expr.ty, "shape")


def _floating(dtype: str, values: list[np.ndarray]) -> bool:
    return dtype.startswith("float") and all(v.dtype.kind == "f" and str(v.dtype) == dtype for v in values)


def _static_shape(shape: Any) -> tuple[int, ...] | None:
    import tvm

    values = getattr(shape, "values", None)
    if values is None or not all(isinstance(v, tvm.tirx.IntImm) for v in values):
        return None
    return tuple(int(v) for v in values)


def _calls_on_constants(func: Any) -> bool:
    """Whether ``func`` still binds a call whose tensor arguments are all constants (one that
    FoldConstant could fold, numpy here could not)."""
    import tvm
    from tvm import relax

    found = False

    def visit(expr: Any) -> None:
        nonlocal found
        if found or not isinstance(expr, relax.Call) or not isinstance(expr.op, tvm.ir.Op):
            return
        args = list(expr.args)
        if str(expr.op.name) == "relax.call_tir":
            args = list(args[1].fields) if isinstance(args[1], relax.Tuple) else [args[1]]
        found = any(map(_is_tensor_constant, args)) and all(_is_constant_like(a) for a in args)

    relax.analysis.post_order_visit(func, visit)
    return found


def _is_constant_like(expr: Any) -> bool:
    import tvm
    from tvm import relax

    # Scalar, string and dtype arguments are Constants too in this TVM; shapes are ShapeExprs.
    return isinstance(expr, tvm.ir.expr.Constant | relax.ShapeExpr)


@functools.cache
def _make_folder_class() -> type:
    """The mutator, built lazily: ``tvm.relax`` must not load when this module is imported."""
    import tvm
    from tvm import relax

    @relax.expr_functor.mutator
    class NumpyConstantFolder(relax.PyExprMutator):
        """Post-order: a call whose arguments became constants is evaluated; a variable bound to
        a constant is replaced by the constant at each use (FoldConstant's two rules)."""

        def visit_call_(self, call: Any) -> Any:
            call = self.visit_expr_post_order(call)
            value = evaluate(call)
            return call if value is None else relax.const(value, str(call.ty.dtype))

        def visit_var_(self, var: Any) -> Any:
            return self._constant_or(var, super().visit_var_)

        def visit_dataflow_var_(self, var: Any) -> Any:
            return self._constant_or(var, super().visit_dataflow_var_)

        def _constant_or(self, var: Any, default: Callable[[Any], Any]) -> Any:
            bound = self.lookup_binding(var)
            return bound if isinstance(bound, tvm.ir.expr.Constant) else default(var)

    return NumpyConstantFolder
