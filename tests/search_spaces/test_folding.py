"""Constant folding in numpy (search_spaces._folding) gives the module FoldConstant gives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tvm")


@contextmanager
def _counting_llvm_builds() -> Iterator[list[str]]:
    """Counts the PrimFuncs built by ``tirx.build`` (what FoldConstant calls for each fold)."""
    import tvm_ffi

    original = tvm_ffi.get_global_func("tirx.build")
    built: list[str] = []

    def counting(func: Any, target: Any) -> Any:
        built.append(str(func))
        return original(func, target)

    tvm_ffi.register_global_func("tirx.build", counting, override=True)
    try:
        yield built
    finally:
        tvm_ffi.register_global_func("tirx.build", original, override=True)


def _imported(model: torch.nn.Module, x: torch.Tensor) -> Any:
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    mod = from_exported_program(torch.export.export(model.eval(), (x,)), keep_params_as_input=False)
    return relax.transform.FoldBatchnormToConv2D()(mod)


def _model() -> tuple[torch.nn.Module, torch.Tensor]:
    """Conv + a batch norm that is not the identity, a biased conv, and a linear layer: the
    reshapes, adds, square roots, divides, multiplies and the transpose an import folds."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, bias=False),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 1),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 6 * 6, 10),
    )
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
        model[1].weight.uniform_(0.5, 2)
    return model, torch.randn(1, 3, 8, 8)


def test_the_import_folds_to_the_same_module_without_building_anything() -> None:
    import tvm_ffi
    from tvm import relax

    from search_spaces._folding import fold_constants

    mod = _imported(*_model())
    before = mod.script()
    with _counting_llvm_builds() as built:
        folded = fold_constants(mod)
    assert built == []
    assert mod.script() == before  # its input is left as it was
    assert tvm_ffi.structural_equal(folded, relax.transform.FoldConstant()(mod))  # bit for bit


def test_the_packed_flows_bias_layout_transforms_fold_the_same_without_building() -> None:
    import tvm
    import tvm_ffi
    from tvm import relax

    from search_spaces._folding import fold_constants
    from search_spaces.algorithms.spatial_pack import flow_packed_layout

    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512"})
    mod = flow_packed_layout(relax.transform.FoldConstant()(_imported(*_model())), target)
    assert "layout_transform" in mod["main"].script()
    expected = relax.transform.FoldConstant()(mod)
    with _counting_llvm_builds() as built:
        folded = fold_constants(mod)
    assert built == []
    assert tvm_ffi.structural_equal(folded, expected)


def test_what_numpy_does_not_evaluate_here_is_still_folded_by_fold_constant() -> None:
    """An op outside the numpy set (exp) and a padded layout transform (10 channels in blocks
    of 4) on constants: left to FoldConstant, so the result is the same and nothing stays a call."""
    import numpy as np
    import tvm_ffi
    from tvm import relax

    from search_spaces._folding import fold_constants

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([1, 10, 2, 2], "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            bias = relax.const(np.linspace(-1, 1, 10, dtype="float32").reshape(1, 10, 1, 1))
            scaled = bb.emit(relax.op.exp(bias))
            packed = bb.emit(
                relax.op.layout_transform(scaled, lambda n, c, h, w: (n, c // 4, h, w, c % 4), pad_value=0.0)
            )
            data = bb.emit(relax.op.layout_transform(x, lambda n, c, h, w: (n, c // 4, h, w, c % 4), pad_value=0.0))
            out = bb.emit_output(bb.emit(relax.op.add(data, packed)))
        bb.emit_func_output(out)
    mod = bb.get()
    folded = fold_constants(mod)
    assert tvm_ffi.structural_equal(folded, relax.transform.FoldConstant()(mod))
    assert "exp" not in folded["main"].script()
    assert folded["main"].script().count("layout_transform") == 1  # only the input's


def test_an_unpadded_layout_transform_moves_each_element_where_tvms_index_map_puts_it() -> None:
    import numpy as np
    import tvm
    from tvm import relax

    from search_spaces._folding import evaluate

    value = np.arange(2 * 16 * 3 * 1, dtype="float32").reshape(2, 16, 3, 1)
    call = relax.op.layout_transform(relax.const(value), lambda n, c, h, w: (n, c // 8, h, w, c % 8))
    call = relax.BlockBuilder().normalize(call)
    index_map = call.attrs.index_map
    expected = index_map.map_tensor(tvm.runtime.tensor(value)).numpy()
    np.testing.assert_array_equal(evaluate(call), expected)
