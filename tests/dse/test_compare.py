"""dse.compare: the discretized space, hypervolume curves and the reach table (no TVM needed),
plus one slow end-to-end smoke run on real measurements."""

from __future__ import annotations

import json

import pytest

from dse.analysis import EXHAUSTIVE, DiscreteTrial, count_configurations, curves, distinct_configurations, reach_table
from dse.analysis._synthetic import add_trials, new_study
from dse.core.config import SpaceConfig


def _space(**layers: tuple[str, ...]):
    from search_spaces import SearchSpace

    return SearchSpace(SpaceConfig(models=("tiny_cnn",), **layers), "digits", "x86")


def test_distinct_configurations_collapse_inactive_parameters() -> None:
    space = _space(
        pruning=("none", "magnitude"), precision=("fp32", "int8"), algorithm=("im2col_gemm",), tuning=("untuned",)
    )
    configs = distinct_configurations(space)
    assert len(configs) == count_configurations(space)
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == len(configs)
    grid = space.grid()
    magnitude = 1
    for name, values in grid.items():
        if name.startswith("pruning.magnitude."):
            magnitude *= len(values)
    expected = (
        (1 + magnitude) * (1 + len(grid["precision.int8.calibration"])) * len(grid["algorithm.im2col_gemm.layout"])
    )
    assert len(configs) == expected
    assert all("pruning.magnitude.sparsity" not in c for c in configs if c["pruning"] == "none")


def test_discrete_trial_keeps_guided_samplers_on_the_grid() -> None:
    import optuna

    space = _space(pruning=("magnitude",), precision=("fp32",), algorithm=("direct",), tuning=("untuned",))
    grid = space.grid()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        config = space.suggest(DiscreteTrial(trial, grid))  # type: ignore[arg-type]
        seen.add(config.pruning.param_dict["sparsity"])
        study.tell(trial, 0.0)
    assert seen <= set(grid["pruning.magnitude.sparsity"]) and len(seen) > 1


def _compare_studies(prefix: str) -> list:
    space = {
        "model": ["net"],
        "pruning": ["none", "magnitude", "channel"],
        "precision": ["fp32", "int8"],
        "algorithm": ["direct", "im2col_gemm"],
    }

    def lat(c: dict) -> float:
        return (
            {"none": 1.0, "magnitude": 0.8, "channel": 0.5}[c["pruning"]]
            * (0.5 if c["precision"] == "int8" else 1.0)
            * (0.7 if c["algorithm"] == "im2col_gemm" else 1.0)
        )

    def acc(c: dict) -> float:
        return (
            0.95 - {"none": 0.0, "magnitude": 0.01, "channel": 0.05}[c["pruning"]] - 0.003 * (c["precision"] == "int8")
        )

    exhaustive = new_study(f"{prefix}-{EXHAUSTIVE}")
    add_trials(exhaustive, space, lat, acc, cv=0.0)
    partial = new_study(f"{prefix}-random-s0")  # only the slow half: never reaches the front
    add_trials(partial, space, lat, acc, cv=0.0, keep=lambda c: c["algorithm"] == "direct")
    return [exhaustive, partial]


def test_curves_and_reach_table() -> None:
    curve, best, reference = curves(_compare_studies("cmp"), "cmp")
    assert best > 0 and len(reference) == 2
    exhaustive = curve[curve["sampler"] == EXHAUSTIVE]
    assert exhaustive["hv_share"].iloc[-1] == pytest.approx(1.0)
    assert exhaustive["hv_share"].is_monotonic_increasing
    partial = curve[curve["sampler"] == "random"]
    assert partial["hv_share"].iloc[-1] < 0.9
    table = reach_table(curve).set_index("sampler")
    assert table.loc[EXHAUSTIVE, "reached 99%"] == "1/1"
    assert table.loc["random", "reached 90%"] == "0/1"
    assert table.loc[EXHAUSTIVE, "trials to 99%"] <= 12


def test_cli_usage_errors(capsys, tmp_path) -> None:
    from dse.compare import main

    assert main(["--samplers", "tpe,annealing", "--work-dir", str(tmp_path)]) == 2
    assert "--samplers must be among" in capsys.readouterr().err
    assert (
        main(
            [
                "--pruning",
                "none,magnitude,channel",
                "--algorithms",
                "direct,im2col_gemm,winograd",
                "--precision",
                "fp32,int8,fp16",
                "--work-dir",
                str(tmp_path),
                "--max-configs",
                "50",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "distinct configurations, more than --max-configs 50" in err and err.count("\n") == 1


@pytest.mark.slow
def test_compare_smoke_on_real_measurements(tmp_path, work_dir) -> None:
    """Two configurations measured for real, then TPE and random served from the shared cache."""
    from dse.compare import main

    html = tmp_path / "c.html"
    storage = f"sqlite:///{tmp_path / 'compare.db'}"
    code = main(
        [
            "--precision",
            "fp32",
            "--algorithms",
            "im2col_gemm",
            "--samplers",
            "tpe,random",
            "--seeds",
            "0",
            "--n-trials",
            "3",
            "--eval-limit",
            "50",
            "--repeat",
            "3",
            "--min-repeat-ms",
            "5",
            "--threads",
            "1",
            "--work-dir",
            str(work_dir),
            "--storage",
            storage,
            "--html",
            str(html),
        ]
    )
    assert code == 0 and html.exists()
    import optuna

    tpe = optuna.load_study(study_name="compare-x86-digits-tpe-s0", storage=storage)
    assert all(t.user_attrs.get("cache_hit") for t in tpe.trials if t.state.name == "COMPLETE")
