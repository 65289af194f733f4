"""Layer 5 runtimes: the same model scores the same top-1 under TVM, ONNX Runtime and OpenVINO.

Each runtime builds the trial's model itself (ONNX export of the PyTorch model, then its own
precision path) and is scored on the evaluation images and timed with dse's protocol through
``objectives.evaluate.evaluate``, the real trial path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dse.core.errors import UsageError
from tests._capabilities import require

os.environ.setdefault("TVM_NUM_THREADS", "1")

EVAL_LIMIT = 120
#: TVM's runtime reads its thread count once per process: every runtime is given the same.
THREADS = int(os.environ["TVM_NUM_THREADS"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> object:
    """tiny_cnn trained on the digits (a few CPU seconds), so top-1 means something."""
    from search_spaces.datasets import load_dataset
    from search_spaces.models import WeightsSpec, resolve_weights

    folder = tmp_path_factory.mktemp("runtime-weights")
    return resolve_weights("tiny_cnn", "digits", load_dataset("digits", None), WeightsSpec("train", folder))


def _evaluate(tmp_path: Path, weights: object, runtime: str, precision: str = "fp32", **params: object):  # type: ignore[no-untyped-def]
    from dse.core.config import DeviceOptions, MeasureConfig
    from dse.core.layers import NOT_APPLICABLE
    from objectives.evaluate import evaluate
    from objectives.request import EvaluationRequest
    from search_spaces import BASELINE, LayerChoice, TrialConfig

    layers = {**BASELINE, "precision": LayerChoice(precision), "runtime": LayerChoice.of(runtime, params)}
    if runtime != "tvm":
        layers.update(algorithm=LayerChoice(NOT_APPLICABLE), tuning=LayerChoice(NOT_APPLICABLE))
    request = EvaluationRequest(
        config=TrialConfig("digits", "tiny_cnn", target="x86", **layers),
        weights=weights,  # type: ignore[arg-type]
        data_dir=None,
        eval_limit=EVAL_LIMIT,
        work_dir=tmp_path,
        threads=THREADS,
        measure=MeasureConfig(repeat=3, min_repeat_ms=5, max_remeasure=0),
        device=DeviceOptions(),
    )
    result = evaluate(request)
    assert result.ok, f"{runtime} {precision}: {result.error_kind}: {result.error_message}"
    return result


def test_every_runtime_gives_the_same_top1_at_fp32(
    tmp_path: Path, trained: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dse.core.stats import accuracy_interval

    # TVM's module reports the thread count of TVM_NUM_THREADS, which an in-process study run
    # earlier in the session may have set otherwise
    monkeypatch.setenv("TVM_NUM_THREADS", str(THREADS))

    require("onnxruntime")
    require("openvino")
    results = {name: _evaluate(tmp_path, trained, name) for name in ("tvm", "onnxruntime", "openvino")}
    tvm = results["tvm"]
    low, high = accuracy_interval(tvm.accuracy, tvm.eval_size)
    for name, result in results.items():
        assert low <= result.accuracy <= high, (name, result.accuracy, tvm.accuracy)
        assert abs(result.accuracy - tvm.accuracy) <= 1 / EVAL_LIMIT + 1e-9, name  # same model: one image at most
        assert result.latency.median_ms > 0 and result.latency.threads == THREADS and result.latency.n_samples == 3
    assert results["tvm"].accuracy > 0.8  # trained: the comparison is of a real classifier


@pytest.mark.slow
@pytest.mark.parametrize(
    ("runtime", "precision"), [("onnxruntime", "int8"), ("openvino", "int8"), ("openvino", "fp16")]
)
def test_each_runtime_builds_its_own_reduced_precision(
    tmp_path: Path, trained: object, runtime: str, precision: str
) -> None:
    require(runtime)
    fp32 = _evaluate(tmp_path, trained, runtime)
    reduced = _evaluate(tmp_path, trained, runtime, precision)
    assert abs(reduced.accuracy - fp32.accuracy) <= 0.05, (reduced.accuracy, fp32.accuracy)


def test_a_runtime_elsewhere_than_this_cpu_is_one_line_at_start(tmp_path: Path) -> None:
    from dse.optimize import config_from_args, parse_args

    require("onnxruntime")
    args = parse_args(
        ["--runtimes", "tvm,onnxruntime", "--target", "arm", "--rpc", "127.0.0.1:9", "--work-dir", str(tmp_path)]
    )
    with pytest.raises(UsageError, match="runs on this host's CPU only"):
        config_from_args(args)


def test_trials_on_other_runtimes_draw_no_algorithm_or_tuning() -> None:
    import optuna

    from dse.core.config import SpaceConfig
    from search_spaces import SearchSpace
    from search_spaces._space import count_configurations, distinct_configurations

    space = SearchSpace(
        SpaceConfig(
            models=("tiny_cnn",),
            pruning=("none",),
            precision=("fp32",),
            runtime=("tvm", "onnxruntime"),
            algorithm=("direct", "im2col_gemm"),
            tuning=("untuned",),
        ),
        "digits",
        "x86",
    )
    configs = distinct_configurations(space)
    on_ort = [c for c in configs if c["runtime"] == "onnxruntime"]
    assert on_ort and all("algorithm" not in c and "tuning" not in c for c in on_ort)
    assert len(configs) == count_configurations(space)
    trial = optuna.trial.FixedTrial(
        {
            "model": "tiny_cnn",
            "pruning": "none",
            "precision": "fp32",
            "runtime": "onnxruntime",
            "runtime.onnxruntime.graph_optimization": "all",
        }
    )
    config = space.suggest(trial)  # type: ignore[arg-type]
    assert config.algorithm.name == "n/a" and config.tuning.name == "n/a" and space.incompatibility(config) is None


@pytest.mark.e2e
@pytest.mark.slow
def test_a_study_over_three_runtimes_records_and_analyzes_them_all(tmp_path: Path, trained: object) -> None:
    import optuna

    from dse.analysis import analyze
    from dse.optimize import main
    from tests.conftest import FAST_TRIAL_FLAGS

    require("onnxruntime")
    require("openvino")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    flags = [*FAST_TRIAL_FLAGS, "--algorithms", "spatial_pack", "--runtimes", "tvm,onnxruntime,openvino"]
    flags += ["--weights", str(trained.path), "--work-dir", str(tmp_path), "--storage", storage]  # type: ignore[attr-defined]
    assert main([*flags, "--sampler", "grid", "--n-trials", "8", "--no-report"]) == 0  # tvm 1 + ORT 3 + OV 2x2
    study = optuna.load_study(study_name="dse-x86-digits", storage=storage)
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    runtimes = {t.user_attrs["config"]["runtime"]["name"] for t in trials}
    assert runtimes == {"tvm", "onnxruntime", "openvino"}
    for trial in trials:
        if trial.user_attrs["config"]["runtime"]["name"] != "tvm":
            assert trial.user_attrs["config"]["algorithm"]["name"] == "n/a"
            assert "algorithm" not in trial.params and "tuning" not in trial.params
    frame = analyze([study], evaluator=None).frame
    assert set(frame["runtime"]) == runtimes and frame["accuracy"].notna().all()
