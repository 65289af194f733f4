"""Contract tests run over every registered model: a new model is tested with no test edits."""

from __future__ import annotations

import pytest

from dse.core.errors import UsageError
from search_spaces.models import MODELS, build_model


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("input_shape", [(1, 8, 8), (3, 32, 32)])
def test_small_input_variant_builds_and_runs(name: str, input_shape: tuple[int, int, int]) -> None:
    import torch

    model = build_model(name, 10, input_shape).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *input_shape))
    assert out.shape == (2, 10)


def test_full_size_variant_keeps_imagenet_stem() -> None:
    model = build_model("resnet18", 1000, (3, 224, 224))
    assert model.conv1.stride == (2, 2) and model.conv1.kernel_size == (7, 7)


def test_user_model_factory(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_models.py").write_text(
        "import torch\n"
        "def good(num_classes):\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(num_classes))\n"
        "def wrong():\n    return 42\n"
        "def broken():\n    raise ValueError('no GPU')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert build_model("my_models:good", 10, (1, 8, 8)) is not None
    with pytest.raises(UsageError, match=r"must return a torch\.nn\.Module, got int instead"):
        build_model("my_models:wrong", 10, (1, 8, 8))
    with pytest.raises(UsageError, match="raised ValueError: no GPU"):
        build_model("my_models:broken", 10, (1, 8, 8))
    with pytest.raises(UsageError, match=r"package\.module:factory"):
        build_model("no_such_module:f", 10, (1, 8, 8))


def test_a_kwargs_factory_gets_the_data_sets_shape_and_a_wrong_head_stops_the_run(tmp_path, monkeypatch) -> None:
    (tmp_path / "kw_models.py").write_text(
        "import torch\n"
        "def create(name='net', num_classes=1000, **kwargs):\n"
        "    channels = kwargs['in_channels']\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(channels, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(num_classes))\n"
        "def fixed_head(num_classes):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(1000))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import torch

    model = build_model("kw_models:create", 10, (1, 8, 8))
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    with pytest.raises(UsageError, match=r"outputs \(1, 1000\) but the data set has 10 classes"):
        build_model("kw_models:fixed_head", 10, (1, 8, 8))


def test_digits_split_is_fixed_and_disjoint() -> None:
    from search_spaces.datasets import load_dataset

    first, second = load_dataset("digits", None), load_dataset("digits", None)
    assert first.input_shape == (1, 8, 8) and first.num_classes == 10
    assert len(first.train_y) + len(first.eval_y) == 1797
    assert (first.eval_y == second.eval_y).all()


def test_batch_norm_after_a_conv_is_folded_into_its_weight_on_import() -> None:
    """No BN arithmetic is left for the conv epilogues (or for int8 to quantize around), and
    the folded module computes what the PyTorch model does."""
    import numpy as np
    import torch
    import tvm
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    from search_spaces.models import for_inference

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU()).eval()
    with torch.no_grad():  # a BN that is not the identity
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
        model[1].weight.uniform_(0.5, 2)
    x = torch.randn(1, 3, 8, 8)
    mod = for_inference(from_exported_program(torch.export.export(model, (x,)), keep_params_as_input=False))
    ops: set[str] = set()
    relax.analysis.post_order_visit(
        mod["main"], lambda e: ops.add(e.op.name) if isinstance(e, relax.Call) and hasattr(e.op, "name") else None
    )
    assert ops == {"relax.nn.conv2d", "relax.add", "relax.nn.relu"}, ops
    vm = relax.VirtualMachine(tvm.compile(mod, "llvm"), tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(x.numpy()))
    out = out.numpy() if hasattr(out, "numpy") else out[0].numpy()
    np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-5, atol=1e-5)
