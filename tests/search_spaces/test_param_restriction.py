"""``--param LAYER.CHOICE.KEY=V1,V2``: a study searches a smaller grid of one choice's parameters."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from dse.core.errors import UsageError
from dse.optimize import config_from_args, parse_args
from search_spaces import SearchSpace
from search_spaces._space import count_configurations, distinct_configurations


def _space(*argv: str) -> SearchSpace:
    config = config_from_args(parse_args(["--models", "tiny_cnn", "--tuning", "untuned", *argv]))
    return SearchSpace(config.space, config.dataset, config.target)


def test_restricted_values_are_the_only_ones_drawn_and_enumerated() -> None:
    flags = ["--pruning", "magnitude", "--precision", "fp32", "--algorithms", "direct"]
    full = _space(*flags)
    cut = _space(
        *flags,
        "--param",
        "pruning.magnitude.sparsity=0.5,0.8",
        "--param",
        "pruning.magnitude.scope=global",
        "--param",
        "pruning.magnitude.finetune_epochs=1",
    )
    assert cut.grid()["pruning.magnitude.sparsity"] == [0.5, 0.8]
    # 2 sparsities x 1 scope x 1 budget x 2 layouts, against 10 x 2 x 4 x 2 unrestricted.
    assert count_configurations(cut) == 4 and count_configurations(full) == 160
    drawn = {float(p["pruning.magnitude.sparsity"]) for p in distinct_configurations(cut)}
    assert drawn == {0.5, 0.8}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        config = cut.suggest(study.ask())
        assert config.pruning.param_dict["sparsity"] in (0.5, 0.8)
        assert config.pruning.param_dict["scope"] == "global"


def test_a_restriction_is_part_of_the_study_identity() -> None:
    """A study resumed with other --param values searches another space: it must be refused."""
    flags = ["--pruning", "magnitude", "--precision", "fp32", "--algorithms", "direct"]
    one = _space(*flags, "--param", "pruning.magnitude.sparsity=0.5").grid()
    other = _space(*flags, "--param", "pruning.magnitude.sparsity=0.8").grid()
    assert one != other


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--param", "pruning.magnitude.sparsity=0.33"], "'0.33' is not a declared value (allowed: 0.5, 0.55,"),
        (["--param", "pruning.magnitud.sparsity=0.5"], "Did you mean 'pruning.magnitude.sparsity'?"),
        (
            ["--pruning", "none", "--param", "pruning.magnitude.sparsity=0.5"],
            "pruning choice 'magnitude' is not searched by this study; add it to --pruning",
        ),
        (
            ["--param", "algorithm.direct.layout=nchw", "--param", "algorithm.direct.layout=nhwc"],
            "is given twice; give its values once, comma-separated",
        ),
    ],
)
def test_a_bad_restriction_is_one_line_naming_the_fix(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        _space(*argv)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_study_file_gives_restrictions_as_a_list(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text(
        'models = ["tiny_cnn"]\npruning = ["magnitude"]\n'
        'param = ["pruning.magnitude.sparsity=0.5,0.8", "pruning.magnitude.scope=layer"]\n'
    )
    config = config_from_args(parse_args(["--config", str(path)]))
    assert config.space.params == (
        ("pruning.magnitude.sparsity", ("0.5", "0.8")),
        ("pruning.magnitude.scope", ("layer",)),
    )


def test_exhaustive_search_queues_the_costly_configurations_last() -> None:
    """A grid run stopped by --timeout should have measured the untuned space, not a few tuned points."""
    from dse.study import enqueue_grid

    space = _space(
        "--pruning",
        "none",
        "--precision",
        "fp32",
        "--algorithms",
        "direct,im2col_gemm",
        "--tuning",
        "untuned,metaschedule",
    )
    study = optuna.create_study(directions=["maximize", "minimize"])
    queued = enqueue_grid(study, space, seed=0, n_trials=100)
    order = [t.system_attrs["fixed_params"]["tuning"] for t in study.get_trials(deepcopy=False)]
    assert queued == len(order) == 4 + 4 * 4  # 4 untuned; 4 tuned at each of 4 budgets
    assert order[:4] == ["untuned"] * 4 and set(order[4:]) == {"metaschedule"}
