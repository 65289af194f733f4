"""Helpers for the algorithm tests and benchmark: one-conv Relax modules, build, run.

Kept in the package (like ``optuna.testing``) so tests and ``bench/algorithms.py`` build the
same modules.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search_spaces import Choice, ParamValue


def host_target(threads: int = 2) -> Any:
    """The host CPU as a TVM target (``mcpu`` set: naive code differs a lot without it)."""
    import tvm

    return tvm.target.Target({"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu(), "num-cores": threads})


def lowering_context(target: Any) -> Any:
    """The part of a BuildContext that ``ConvAlgorithm.lower`` reads (``tvm_target``, ``info``)."""
    return SimpleNamespace(tvm_target=target, info={})


def conv_module(
    x_shape: tuple[int, ...],
    weight: Any,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    in_dtype: str = "float32",
    out_dtype: str | None = None,
    bias: Any = None,
    relu: bool = False,
) -> Any:
    """A Relax module ``main(x) = relu?(conv2d(x, weight) + bias?)`` with constant weight and bias."""
    from tvm import relax

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(list(x_shape), in_dtype))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(
                relax.op.nn.conv2d(
                    x,
                    relax.const(weight),
                    strides=stride,
                    padding=padding,
                    dilation=dilation,
                    groups=groups,
                    out_dtype=out_dtype,
                )
            )
            if bias is not None:
                y = bb.emit(relax.op.add(y, relax.const(bias.reshape(1, -1, 1, 1))))
            if relu:
                y = bb.emit(relax.op.nn.relu(y))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get()


def build(mod: Any, target: Any) -> Any:
    """Compile a lowered (optionally scheduled) module; return a VirtualMachine on the CPU."""
    import tvm
    from tvm import relax

    return relax.VirtualMachine(tvm.compile(mod, target), tvm.cpu())


def run(vm: Any, x: Any) -> Any:
    """Run ``main`` on a numpy input; return the numpy output."""
    import tvm

    out = vm["main"](tvm.runtime.tensor(x))
    return out.numpy() if hasattr(out, "numpy") else out[0].numpy()


def time_ms(vm: Any, x: Any, repeat: int = 5, min_repeat_ms: int = 50) -> float:
    """Median latency of ``main`` in ms (time_evaluator)."""
    import tvm

    timer = vm.time_evaluator("main", tvm.cpu(), number=1, repeat=repeat, min_repeat_ms=min_repeat_ms)
    return float(timer(tvm.runtime.tensor(x)).median * 1e3)


def covering_params(choice: Choice) -> list[dict[str, ParamValue]]:
    """Parameter sets of ``choice`` in which every value of every parameter appears at least once.

    One parameter varies at a time, the others keep their first value; conditional parameters
    (``when=``) appear with the value that activates them. Read from the choice's own
    declaration, so a new parameter value is tested with no test edits.
    """
    import optuna

    params = choice.parameters()
    first = {p.key: p.values()[0] for p in params}
    cases: dict[str, dict[str, ParamValue]] = {}
    for param in params or ():
        for value in param.values():
            wanted = {**first, param.key: value, **(dict([param.when]) if param.when else {})}
            trial = optuna.trial.FixedTrial({choice.param_name(k): v for k, v in wanted.items()})
            drawn = choice.suggest(trial)  # type: ignore[arg-type]  # FixedTrial stands in for Trial
            cases.setdefault(repr(sorted(drawn.items())), drawn)
    if not params:
        cases["{}"] = {}
    return list(cases.values())
