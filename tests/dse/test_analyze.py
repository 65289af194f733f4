"""dse.analyze on synthetic studies whose answers are planted: it must name them, and nothing else."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dse.analysis import analyze, render, render_html
from dse.analysis._synthetic import add_trials, new_study

SPACE = {
    "model": ["net"],
    "pruning": ["none", "magnitude", "channel"],
    "precision": ["fp32", "int8"],
    "algorithm": ["direct", "im2col_gemm", "spatial_pack"],
    "tuning": ["untuned", "metaschedule"],
}
PRUNING_SPEED = {"none": 1.0, "magnitude": 0.8, "channel": 0.55}
PRUNING_ACCURACY = {"none": 0.0, "magnitude": 0.01, "channel": 0.05}


def accuracy(c: dict) -> float:
    return 0.95 - PRUNING_ACCURACY[c["pruning"]] - (0.004 if c["precision"] == "int8" else 0.0)


def additive_latency(c: dict) -> float:
    """Every layer multiplies latency by its own factor: no interaction anywhere."""
    return (
        4.0
        * {"direct": 1.0, "im2col_gemm": 0.5, "spatial_pack": 0.7}[c["algorithm"]]
        * PRUNING_SPEED[c["pruning"]]
        * (0.6 if c["precision"] == "int8" else 1.0)
        * (0.4 if c["tuning"] == "metaschedule" else 1.0)
    )


def reversal_latency(c: dict) -> float:
    """direct is the slowest algorithm at fp32 but the fastest at int8: a planted rank reversal."""
    fp32 = {"direct": 4.0, "im2col_gemm": 2.0, "spatial_pack": 3.0}
    int8 = {"direct": 0.8, "im2col_gemm": 1.6, "spatial_pack": 2.4}
    table = int8 if c["precision"] == "int8" else fp32
    return table[c["algorithm"]] * PRUNING_SPEED[c["pruning"]] * (0.5 if c["tuning"] == "metaschedule" else 1.0)


def test_planted_dominant_choice_is_named_and_no_interaction_invented() -> None:
    study = new_study()
    add_trials(study, SPACE, additive_latency, accuracy, cv=0.02, seed=1)
    result = analyze([study], evaluator=None)
    target = result.targets["x86"]
    dominant = {(s.layer, s.choice) for s in target.dominant}
    assert ("algorithm", "im2col_gemm") in dominant and ("tuning", "metaschedule") in dominant
    assert target.interactions == []
    text = render(result)
    assert "every front configuration uses algorithm=im2col_gemm" in text
    assert "none supported by the data" in text
    swap = next(e for e in target.effects if (e.layer, e.a1, e.a2) == ("algorithm", "direct", "im2col_gemm"))
    assert swap.latency_ratio == pytest.approx(2.0, rel=0.05) and swap.n_a2_faster == swap.n_pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cv", [0.01, 0.04])
def test_no_interaction_reported_in_additive_noisy_worlds(seed: int, cv: float) -> None:
    study = new_study()
    add_trials(study, SPACE, additive_latency, accuracy, cv=cv, seed=seed)
    assert analyze([study], evaluator=None).targets["x86"].interactions == []


def test_planted_rank_reversal_is_found_with_its_trials() -> None:
    study = new_study()
    add_trials(study, SPACE, reversal_latency, accuracy, cv=0.02)
    target = analyze([study], evaluator=None).targets["x86"]
    found = {(i.layer, i.by) for i in target.interactions}
    assert ("algorithm", "precision") in found
    assert found <= {("algorithm", "precision"), ("precision", "algorithm")}, found
    reversal = next(
        i
        for i in target.interactions
        if (i.layer, i.a1, i.a2, i.by) == ("algorithm", "direct", "im2col_gemm", "precision")
    )
    assert reversal.kind == "reversal" and not reversal.confounded_with
    verdicts = {c.level: c.verdict for c in reversal.cells}
    assert verdicts == {"fp32": "a2", "int8": "a1"}
    text = reversal.describe()
    assert "the faster algorithm changes with precision" in text and "#" in text


LAYOUTS = {"algorithm": {"direct": {"layout": ["nchw", "nhwc"]}, "im2col_gemm": {"layout": ["nchw", "nhwc"]}}}


def test_parameter_level_effect_that_depends_on_another_layer() -> None:
    """nhwc speeds direct up 2x at int8 only: an on/off effect of a choice's own parameter."""

    def lat(c: dict) -> float:
        nhwc_gain = 0.5 if c.get("algorithm.direct.layout") == "nhwc" and c["precision"] == "int8" else 1.0
        return additive_latency(c) * nhwc_gain

    study = new_study()
    add_trials(study, SPACE, lat, accuracy, cv=0.01, choice_params=LAYOUTS)
    found = [(i.kind, i.layer, i.a1, i.a2, i.by) for i in analyze([study], evaluator=None).targets["x86"].interactions]
    assert ("on_off", "algorithm", "direct(layout=nchw)", "direct(layout=nhwc)", "precision") in found
    assert all(layer == "algorithm" or by == "algorithm" for _, layer, _, _, by in found), found


@pytest.mark.parametrize("seed", [0, 1])
def test_no_parameter_level_interaction_when_parameters_act_alone(seed: int) -> None:
    def lat(c: dict) -> float:
        return additive_latency(c) * (
            0.8 if "nhwc" in (c.get("algorithm.direct.layout"), c.get("algorithm.im2col_gemm.layout")) else 1.0
        )

    study = new_study()
    add_trials(study, SPACE, lat, accuracy, cv=0.03, seed=seed, choice_params=LAYOUTS)
    assert analyze([study], evaluator=None).targets["x86"].interactions == []


def test_effect_on_one_target_only_and_ranks_across_targets() -> None:
    space = {k: v for k, v in SPACE.items() if k != "tuning"} | {"tuning": ["untuned"]}
    x86, arm = new_study("x86-study"), new_study("arm-study")
    add_trials(x86, space, additive_latency, accuracy, target="x86", cv=0.01)
    add_trials(
        arm, space, lambda c: additive_latency({**c, "pruning": "none"}) * 3, accuracy, target="arm", cv=0.01, seed=5
    )
    result = analyze([x86, arm], evaluator=None)
    target_effects = [(i.kind, i.layer, i.a1, i.a2) for i in result.target_interactions]
    assert ("on_off", "pruning", "channel", "none") in target_effects
    assert all(i.layer == "pruning" for i in result.target_interactions)
    assert result.ranks is not None and set(result.ranks.targets) == {"arm", "x86"}
    assert len(result.ranks.table) == 18
    assert "makes no difference beyond noise at target=arm" in render(result)


def test_emulated_latencies_are_kept_apart() -> None:
    study = new_study()
    add_trials(study, SPACE, additive_latency, accuracy, cv=0.01)
    add_trials(study, SPACE, lambda c: 0.001, accuracy, emulated=True, cv=0.01)  # absurdly fast: qemu "timings"
    target = analyze([study], evaluator=None).targets["x86"]
    assert not target.points["emulated"].any() and not target.front["emulated"].any()
    assert target.emulated_front["emulated"].all() and len(target.emulated_points) == 36
    assert target.front["latency_ms"].min() > 0.1


def test_importance_names_the_planted_drivers() -> None:
    study = new_study()
    add_trials(study, SPACE, additive_latency, accuracy, cv=0.01)
    importance = analyze([study]).targets["x86"].importance
    assert isinstance(importance, dict)
    assert max(importance["accuracy"], key=importance["accuracy"].get) == "pruning"
    assert set(importance["latency_ms"]) >= {"algorithm", "tuning", "pruning", "precision"}


def test_cli_writes_summary_html_and_csv(tmp_path, capsys) -> None:
    import optuna

    from dse.analyze import main

    url = f"sqlite:///{tmp_path / 'a.db'}"
    study = optuna.create_study(study_name="syn", storage=url, directions=["maximize", "minimize"])
    add_trials(study, SPACE, reversal_latency, accuracy, cv=0.02)
    html, csv = tmp_path / "r.html", tmp_path / "t.csv"
    assert main(["--storage", url, "--study-name", "syn", "--html", str(html), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "the faster algorithm changes with precision" in out
    page = html.read_text()
    assert "Plotly.newPlot" in page and "<script src=" not in page  # plotly.js inline, no network
    import pandas as pd

    frame = pd.read_csv(csv)
    assert len(frame) == 36 and {"algorithm", "latency_ms", "config", "param:algorithm"} <= set(frame.columns)


def test_cli_usage_errors_are_one_line(tmp_path, capsys) -> None:
    import optuna

    from dse.analyze import main

    url = f"sqlite:///{tmp_path / 'a.db'}"
    optuna.create_study(study_name="syn", storage=url, directions=["maximize", "minimize"])
    assert main(["--storage", url, "--study-name", "sin"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Did you mean 'syn'" in err
    assert main(["--storage", url, "--min-pairs", "0"]) == 2


def test_cli_bad_outputs_and_inputs_are_one_line_and_change_nothing(tmp_path, capsys) -> None:
    import optuna

    from dse.analyze import main

    db = tmp_path / "a.db"
    url = f"sqlite:///{db}"
    study = optuna.create_study(study_name="syn", storage=url, directions=["maximize", "minimize"])
    add_trials(study, SPACE, reversal_latency, accuracy, cv=0.02)
    before = db.read_bytes()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    cases = [
        (["--html", str(tmp_path)], "is a folder; give a file name"),
        (["--csv", str(tmp_path)], "is a folder; give a file name"),
        (["--csv", "/nonexistent/dir/t.csv"], "does not exist; create it first"),
        (["--min-effect", "nan"], "expected a finite number, got 'nan'"),
    ]
    import os

    if os.geteuid() != 0:  # root writes anywhere: the permission check cannot fail for it
        cases.append((["--csv", str(locked / "t.csv")], "is not writable"))
    for args, message in cases:
        assert main(["--storage", url, *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, (args, err)
    assert db.read_bytes() == before
    missing = tmp_path / "missing.db"
    assert main(["--storage", f"sqlite:///{missing}"]) == 2
    assert "no such file" in capsys.readouterr().err and not missing.exists()


def test_write_failure_after_analysis_is_one_line(tmp_path) -> None:
    from dse.cli import write_output
    from dse.core.errors import UsageError

    with pytest.raises(UsageError, match="could not be written"):
        write_output("--csv", tmp_path / "no" / "such" / "folder.csv", "x")


def test_render_of_an_empty_study() -> None:
    result = analyze([new_study()])
    assert "no trial" in render(result)
    assert render_html(result).startswith("<!DOCTYPE html>")


def test_help_does_not_import_torch_or_tvm() -> None:
    code = (
        "import sys, runpy; sys.argv=['x','--help']\n"
        "try: runpy.run_module('dse.analyze', run_name='__main__')\nexcept SystemExit: pass\n"
        "try: runpy.run_module('dse.compare', run_name='__main__')\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('torch','tvm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")


def _null_study(seed: int):  # type: ignore[no-untyped-def]
    """An additive world (no interaction), measured the way real studies are: a choice parameter
    sampled unevenly across another layer, 10% per-trial drift, unequal numbers of trials."""
    import numpy as np

    rng = np.random.default_rng(seed)
    layout_speed = {"nchw": 1.0, "nhwc": 0.6}
    keep_rate = {"fp32": rng.uniform(0.3, 1.0), "int8": rng.uniform(0.3, 1.0)}

    def latency(c: dict) -> float:
        layout = layout_speed[c.get("algorithm.direct.layout", "nchw")] if c["algorithm"] == "direct" else 1.0
        return additive_latency(c) * layout

    def keep(c: dict) -> bool:
        if c["algorithm"] == "direct":  # nhwc mostly at fp32, nchw mostly at int8: unbalanced
            nhwc = c["algorithm.direct.layout"] == "nhwc"
            if rng.random() > ((0.9 if nhwc else 0.1) if c["precision"] == "fp32" else (0.1 if nhwc else 0.9)):
                return False
        return bool(rng.random() < keep_rate[c["precision"]])

    study = new_study(f"null-{seed}")
    add_trials(
        study,
        SPACE,
        latency,
        accuracy,
        cv=0.02,
        drift=0.10,
        seed=seed,
        keep=keep,
        choice_params={"algorithm": {"direct": {"layout": ["nchw", "nhwc"]}}},
    )
    return study


@pytest.mark.slow
def test_no_false_interaction_in_200_null_studies() -> None:
    """Unbalanced parameters, drift and unequal sizes must not produce interaction claims."""
    false_claims = []
    for seed in range(200):
        result = analyze([_null_study(seed)], evaluator=None)
        claims = [i.describe() for t in result.targets.values() for i in t.interactions]
        false_claims += [f"seed {seed}: {c}" for c in claims]
    assert not false_claims, f"{len(false_claims)} false claims, e.g. {false_claims[:2]}"


def test_the_pooled_comparison_of_the_old_analyzer_is_gone() -> None:
    """direct(nhwc) at fp32 vs direct(nchw) at int8 used to read as 'the faster algorithm changes
    with precision'; compared by full label, direct's two layouts are two contrasts."""
    result = analyze([_null_study(3)], evaluator=None)
    (target,) = result.targets.values()
    assert all("(" in e.a1 or e.a1 != "direct" for e in target.effects)
    assert not any(i.layer == "algorithm" and i.by == "precision" for i in target.interactions)


def test_planted_reversal_survives_drift_and_carries_intervals() -> None:
    study = new_study()
    add_trials(study, SPACE, reversal_latency, accuracy, cv=0.02, drift=0.10, seed=1)
    (target,) = analyze([study], evaluator=None).targets.values()
    found = [i for i in target.interactions if i.kind == "reversal" and i.by == "precision"]
    assert found and all(i.p_adjusted < 0.05 and i.n_tests > 1 for i in found)
    assert "after Holm over" in found[0].describe() and "95% CI" in found[0].describe()
    assert all(e.ratio_ci[0] <= e.latency_ratio <= e.ratio_ci[1] for e in target.effects if e.n_pairs > 1)


def test_a_contrast_seen_on_other_models_at_each_level_is_marked_confounded() -> None:
    """fp32 measured only on model a, int8 only on model b: a reversal between them may be the
    model's doing, so it carries the confounder instead of standing as a finding."""
    space = {**SPACE, "model": ["a", "b"]}
    study = new_study()
    on_one_model = {"fp32": "a", "int8": "b"}
    add_trials(
        study, space, reversal_latency, accuracy, cv=0.02, keep=lambda c: on_one_model[c["precision"]] == c["model"]
    )
    target = analyze([study], evaluator=None).targets["x86"]
    reversal = next(i for i in target.interactions if (i.layer, i.by) == ("algorithm", "precision"))
    assert "model" in reversal.confounded_with


def test_importance_needs_twenty_distinct_configurations_and_counts_a_repeat_once() -> None:
    import optuna

    from dse.analysis._importance import MIN_CONFIGURATIONS, importances

    study = new_study()
    add_trials(study, {**SPACE, "tuning": ["untuned"]}, additive_latency, accuracy, cv=0.02)  # 18 configurations
    trials = study.get_trials()
    assert len(trials) == 18 < MIN_CONFIGURATIONS
    repeated = [
        *trials,
        *(
            optuna.trial.create_trial(params=t.params, distributions=t.distributions, values=t.values)
            for t in trials[:5]
        ),
    ]
    said = importances(repeated)
    assert isinstance(said, str) and "got 18" in said  # 23 trials, 18 configurations: no importance
    study = new_study()
    add_trials(study, SPACE, additive_latency, accuracy, cv=0.02)  # 36 configurations
    found = importances(study.get_trials())
    assert isinstance(found, dict) and max(found["latency_ms"], key=found["latency_ms"].get) in ("algorithm", "tuning")


def test_an_accuracy_difference_inside_the_interval_is_reported_as_the_same() -> None:
    """One image of 200 between two algorithms is no finding; ten of 2000 apart on both sides is."""
    from dse.analysis._text import shown_effects

    def accuracy_by_algorithm(c: dict) -> float:
        return 0.950 + (0.005 if c["algorithm"] == "direct" else 0.0)

    for eval_size, expected in ((200, "accuracy the same within its 95% interval"), (20000, "beyond the 95% interval")):
        study = new_study()
        add_trials(study, SPACE, additive_latency, accuracy_by_algorithm, cv=0.02, eval_size=eval_size)
        target = analyze([study], evaluator=None).targets["x86"]
        swap = next(e for e in target.effects if (e.layer, e.a1, e.a2) == ("algorithm", "direct", "im2col_gemm"))
        assert swap in shown_effects(target.effects) and expected in render(analyze([study], evaluator=None))
        assert (swap.n_accuracy_differs == 0) == (eval_size == 200)


RUNTIME_SPACE = {
    "model": ["net", "wide_net"],
    "pruning": ["none", "magnitude", "channel"],
    "precision": ["fp32", "int8"],
    "runtime": ["tvm", "onnxruntime"],
    "algorithm": ["spatial_pack", "n/a"],
    "tuning": ["untuned", "n/a"],
}


def _as_run(c: dict) -> bool:
    """Algorithm and tuning exist on TVM only; every other runtime records them as n/a."""
    on_tvm = c["runtime"] == "tvm"
    return (c["algorithm"] != "n/a") == on_tvm and (c["tuning"] != "n/a") == on_tvm


def test_runtime_is_a_layer_whose_swaps_and_interactions_are_found() -> None:
    """int8 makes TVM faster and ONNX Runtime slower (as QDQ int8 did on ResNet-18): a runtime x
    precision reversal, found across TVM's own algorithm and tuning, with no n/a 'choice' claimed."""

    def lat(c: dict) -> float:
        table = {("tvm", "fp32"): 2.0, ("tvm", "int8"): 1.0, ("onnxruntime", "fp32"): 1.5, ("onnxruntime", "int8"): 2.5}
        width = 2.0 if c["model"] == "wide_net" else 1.0
        return table[(c["runtime"], c["precision"])] * PRUNING_SPEED[c["pruning"]] * width

    study = new_study()
    add_trials(study, RUNTIME_SPACE, lat, accuracy, cv=0.02, keep=_as_run)
    target = analyze([study], evaluator=None).targets["x86"]
    swap = next(e for e in target.effects if e.layer == "runtime")
    assert (swap.a1, swap.a2, swap.n_pairs) == ("onnxruntime", "tvm", 12)
    found = {(i.layer, i.by) for i in target.interactions}
    assert ("runtime", "precision") in found
    assert not any(s.choice == "n/a" for s in target.dominant)
    assert "=n/a" not in render(analyze([study], evaluator=None))


def test_the_noise_floor_is_the_typical_tests_spread_not_the_wildest() -> None:
    """Two swaps whose effect varies wildly with the context (variance 50) beside eight
    ordinary ones (0.01): the floor stays at the ordinary spread, where a pooled mean (about 10)
    would have silenced every test of a full factorial (the shipped table: 0 claims then, 2 now;
    the 200 null studies above guard the other side)."""
    from dse.analysis._effects import noise_floor

    spread = [(0.01, 5)] * 8 + [(50.0, 5)] * 2 + [(7.0, 0)]  # a test without dof is no evidence
    assert noise_floor(spread) == pytest.approx(0.01)
    assert noise_floor([]) == 0.0


def test_a_fallback_beside_the_algorithm_it_ran_is_shown_only_when_clear() -> None:
    """Both sides run the same kernels: like a parameter change, shown only as a clear effect."""
    from dse.analysis._effects import Effect
    from dse.analysis._frames import fallback_label
    from dse.analysis._text import shown_effects

    def effect(a1: str, a2: str, faster: int) -> Effect:
        return Effect("algorithm", a1, a2, 6, 0.97, faster, 0, 0.0, 0, ())

    fallback = fallback_label("im2col_gemm", "sparse_gemm(format=csr)")
    noise, clear = effect(fallback, "im2col_gemm(layout=nchw)", 1), effect(fallback, "im2col_gemm(layout=nchw)", 6)
    other = effect(fallback, "direct(layout=nchw)", 1)  # another algorithm: always shown
    assert shown_effects([noise, clear, other]) == [clear, other]


def _pairs(log_ratios: dict[tuple[str, str], float]) -> dict[str, list]:
    """Pairs of one swap keyed by (level of precision, context of pruning): levels -> pairs."""
    from dse.analysis._effects import Pair

    levels: dict[str, list] = {}
    for (level, context), ratio in log_ratios.items():
        pair = Pair(
            "algorithm",
            "direct",
            "im2col_gemm",
            "#1",
            "#2",
            ratio,
            0.0,
            True,
            0.1,
            {"precision": level, "pruning": context},
        )
        levels.setdefault(level, []).append(pair)
    return levels


def test_an_interaction_hidden_by_what_the_contexts_do_is_found_context_by_context() -> None:
    """The swap's effect moves with pruning by +-0.6 (log) at both levels of precision and by
    0.5 between them in every context: the one-way test sees the contexts' spread as noise,
    the blocked one compares each context with itself."""
    from dse.analysis._effects import Thresholds, blocked_design, blocked_p, heterogeneity_p

    contexts = {"c0": -0.6, "c1": -0.3, "c2": 0.0, "c3": 0.3, "c4": 0.6}
    noise = [0.01, -0.02, 0.015, -0.005, 0.0]
    levels = _pairs(
        {("fp32", c): v + 0.25 + e for (c, v), e in zip(contexts.items(), noise, strict=True)}
        | {("int8", c): v - 0.25 - e for (c, v), e in zip(contexts.items(), noise, strict=True)}
    )
    one_way = heterogeneity_p([[p.log_ratio for p in lp] for lp in levels.values()])
    design = blocked_design(levels, "precision", Thresholds())
    assert design is not None and one_way > 0.05
    assert blocked_p(design) < 1e-4
    assert blocked_p(design, noise_floor=0.5) > 0.01  # a typical test's spread still bounds it

    null = _pairs(
        {
            (level, c): v + e * (1 if level == "fp32" else -1)
            for level in ("fp32", "int8")
            for (c, v), e in zip(contexts.items(), noise, strict=True)
        }
    )
    null_design = blocked_design(null, "precision", Thresholds())
    assert null_design is not None and blocked_p(null_design, noise_floor=0.01**2) > 0.05


def test_a_test_is_blocked_only_where_contexts_recur_across_its_levels() -> None:
    from dse.analysis._effects import Thresholds, blocked_design

    apart = _pairs({("fp32", "c0"): 0.1, ("fp32", "c1"): 0.2, ("int8", "c2"): -0.1, ("int8", "c3"): -0.2})
    assert blocked_design(apart, "precision", Thresholds()) is None
    two = _pairs({(level, c): 0.0 for level in ("fp32", "int8") for c in ("c0", "c1")})
    assert blocked_design(two, "precision", Thresholds()) is None  # 1 residual degree of freedom
    three = _pairs({(level, c): 0.0 for level in ("fp32", "int8") for c in ("c0", "c1", "c2")})
    assert blocked_design(three, "precision", Thresholds()) is not None


def test_pairs_that_all_lean_one_way_inside_their_margin_are_not_no_difference() -> None:
    """Three pairs 6-9% apart, each inside its 10% margin, all one way: a small effect, not 'none'."""
    from dse.analysis._effects import Thresholds, _cell

    leaning = _pairs({("fp32", c): r for c, r in (("c0", 0.06), ("c1", 0.08), ("c2", 0.09))})["fp32"]
    around = _pairs({("fp32", c): r for c, r in (("c0", 0.06), ("c1", -0.04), ("c2", 0.02))})["fp32"]
    assert _cell("fp32", leaning, Thresholds()).verdict == "mixed"
    assert _cell("fp32", around, Thresholds()).verdict == "none"


def test_no_difference_needs_more_than_one_pair_at_the_edge_of_its_interval() -> None:
    """Four pairs, three 2-10% one way and one 0.2% the other (the 95% interval of the median
    1.00-1.10, the shipped table's 12 pairs there 1.03-1.10): 'none' is a claim of absence, so
    the 80% interval decides, and it leans; pairs spread both ways stay 'none'."""
    from dse.analysis._effects import Thresholds, _cell

    edge = {("fp32", c): r for c, r in (("c0", 0.0218), ("c1", -0.002), ("c2", 0.0948), ("c3", 0.0954))}
    spread = {("fp32", c): r for c, r in (("c0", 0.03), ("c1", -0.02), ("c2", 0.05), ("c3", -0.04))}
    assert _cell("fp32", _pairs(edge)["fp32"], Thresholds()).verdict == "mixed"
    assert _cell("fp32", _pairs(spread)["fp32"], Thresholds()).verdict == "none"
