"""The terminal summary of an :class:`Analysis`: fronts, what they are made of, effects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dse.analysis._effects import Effect, accuracy_words
from dse.analysis._frames import choice_that_ran
from dse.analysis._front import ChoiceShare
from dse.core.layers import NOT_APPLICABLE

if TYPE_CHECKING:
    import pandas as pd

    from dse.analysis._analysis import Analysis, TargetAnalysis

#: What a front row shows of its measurement, in the text summary and the HTML report alike;
#: each then names the configuration its own way.
FRONT_MEASURES = [
    "study",
    "trial",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "latency_ms",
    "speedup_vs_untuned_fp32",
    "speedup_vs_torch_eager",
]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def front_table(pareto: pd.DataFrame, qualify: bool) -> str:
    columns = [c for c in [*FRONT_MEASURES, "config"] if c != "study" or qualify]
    return pareto[columns].to_string(index=False, float_format=_fmt, na_rep="-")


def shares_table(shares: list[ChoiceShare]) -> str:
    import pandas as pd

    tried = {s.layer for s in shares if sum(o.layer == s.layer for o in shares) > 1}
    rows = [
        {
            "layer": s.layer,
            "choice": s.choice,
            "trials": s.n_trials,
            "of trials": f"{s.share_trials:.0%}",
            "on front": s.n_front,
            "of front": f"{s.share_front:.0%}",
            "front accuracy": f"{s.front_accuracy[0]:.3f}-{s.front_accuracy[1]:.3f}" if s.front_accuracy else "-",
            "front latency ms": f"{s.front_latency_ms[0]:.3g}-{s.front_latency_ms[1]:.3g}"
            if s.front_latency_ms
            else "-",
        }
        for s in shares
        if s.layer in tried
    ]
    return pd.DataFrame(rows).to_string(index=False) if rows else "  (every layer had a single choice)"


def highlights(shares: list[ChoiceShare], dominant: list[ChoiceShare]) -> list[str]:
    """Sentences for the choices that make or miss the front far more than chance would."""
    lines = []
    for s in dominant:
        others = sorted(o.choice for o in shares if o.layer == s.layer and o.choice != s.choice)
        lines.append(
            f"every front configuration uses {s.layer}={s.choice} "
            f"(also tried: {', '.join(others)}; it is {s.share_trials:.0%} of the trials)"
        )
    dominant_keys = {(d.layer, d.choice) for d in dominant}
    for s in shares:
        if (s.layer, s.choice) in dominant_keys or not s.front_latency_ms or not s.front_accuracy:
            continue
        if s.choice == NOT_APPLICABLE:  # not a choice: the runtime's share says it
            continue
        if s.share_front >= s.share_trials + 0.2:
            lines.append(
                f"{s.layer}={s.choice} is over-represented on the front ({s.share_front:.0%} vs "
                f"{s.share_trials:.0%} of trials): it gives the front points at "
                f"{s.front_latency_ms[0]:.3g}-{s.front_latency_ms[1]:.3g} ms, accuracy "
                f"{s.front_accuracy[0]:.3f}-{s.front_accuracy[1]:.3f}"
            )
    for s in shares:
        layer_choices = sum(1 for o in shares if o.layer == s.layer)
        if s.n_front == 0 and s.n_trials >= 3 and layer_choices > 1 and s.choice != NOT_APPLICABLE:
            lines.append(
                f"{s.layer}={s.choice} is never on the front ({s.n_trials} trials; best "
                f"{s.best_latency_ms:.3g} ms, best accuracy {s.best_accuracy:.3f})"
            )
    return lines


def _clear(e: Effect) -> bool:
    """At least 2 pairs, and (nearly) all of them favour the same side beyond noise."""
    return e.n_pairs >= 2 and max(e.n_a1_faster, e.n_a2_faster) >= 0.8 * e.n_pairs


def _same_choice(e: Effect) -> bool:
    """Both sides run one choice: its parameters differ, or one side is a fallback to it."""
    return choice_that_ran(e.a1)[0] == choice_that_ran(e.a2)[0]


def shown_effects(effects: list[Effect]) -> list[Effect]:
    """Every swap of one choice for another; parameter changes of one choice only where clear."""
    return [e for e in effects if not _same_choice(e) or _clear(e)]


def _states(frame: pd.DataFrame) -> str:
    counts = frame["state"].value_counts()
    return ", ".join(f"{state} {n}" for state, n in counts.items())


def target_section(t: TargetAnalysis, analysis: Analysis) -> list[str]:
    qualify = len(analysis.studies) > 1
    rows = analysis.frame[analysis.frame["target"] == t.target]
    lines = [
        (
            f"== Target {t.target}: {len(rows)} trials ({_states(rows)}); {len(t.points)} distinct measured "
            f"configurations, {len(t.emulated_points)} emulated (kept apart)"
        )
    ]
    if t.front.empty:
        lines.append("No feasible real measurement: no Pareto front.")
    else:
        lines.append(f"Pareto front ({len(t.front)} configurations, fastest first):")
        lines.append(front_table(t.front, qualify))
        lines.append("What the front is made of (per layer choice: share of trials vs share of the front):")
        lines.append(shares_table(t.shares))
        lines.extend(f"  * {line}" for line in highlights(t.shares, t.dominant))
    shown = shown_effects(t.effects)
    if shown:
        lines.append(
            "Layer swaps, all else equal (matched pairs; ratio = latency of the first / the second; "
            "parameter changes only where clear):"
        )
        for e in shown:
            lines.append(
                f"  {e.layer}: {e.a1} vs {e.a2}: latency x{e.latency_ratio:.2f} "
                f"[95% CI {e.ratio_ci[0]:.2f}-{e.ratio_ci[1]:.2f}] over {e.n_pairs} pairs "
                f"({e.a1} faster beyond noise in {e.n_a1_faster}, {e.a2} in {e.n_a2_faster}), "
                f"{accuracy_words(e)}; e.g. trials " + ", ".join(f"{a} vs {b}" for a, b in e.examples)
            )
    if isinstance(t.importance, str):
        lines.append(f"Parameter importance: not computed ({t.importance})")
    else:
        for objective, values in t.importance.items():
            if not values:
                lines.append(f"Importance for {objective}: none (no difference beyond measurement error to attribute)")
                continue
            ranked = ", ".join(f"{name} {v:.2f}" for name, v in values.items())
            lines.append(f"Importance for {objective}: {ranked}")
    lines.append("Across-stack interactions:")
    if t.interactions:
        lines.extend(f"  - {i.describe()}" for i in t.interactions)
    else:
        th = analysis.thresholds
        lines.append(
            f"  none supported by the data ({len(t.pairs)} matched pairs; one needs >= {th.min_pairs} pairs "
            f"per level and differences beyond max({th.min_effect:.0%}, {th.z:g} x CV))"
        )
    if not t.emulated_front.empty:
        lines.append("Emulated front (qemu timings: functional only, not comparable with real latencies):")
        lines.append(front_table(t.emulated_front, qualify))
    return lines


def render(analysis: Analysis) -> str:
    """The whole terminal report."""
    if analysis.frame.empty:
        return f"Studies {', '.join(analysis.studies)} hold no trial yet."
    lines = [f"Analysis of {len(analysis.studies)} studies: {', '.join(analysis.studies)}"]
    for target in analysis.targets.values():
        lines.extend(target_section(target, analysis))
        lines.append("")
    if analysis.ranks is not None:
        r = analysis.ranks
        lines.append(f"== Across targets ({', '.join(r.targets)}): {len(r.table)} configurations measured on each")
        lines.append("Latency rank correlation (Spearman):")
        lines.append(r.spearman.to_string(float_format=lambda v: f"{v:.2f}"))
        if not r.biggest_moves.empty:
            lines.append("Configurations whose rank changes most between targets:")
            cols = ["config", *[f"{t}:rank" for t in r.targets], *[f"{t}:latency_ms" for t in r.targets]]
            lines.append(r.biggest_moves[cols].to_string(index=False, float_format=_fmt))
    elif len(analysis.targets) > 1:
        lines.append("== Across targets: no configuration was measured on two targets yet.")
    if analysis.target_interactions:
        lines.append("Target-dependent effects:")
        lines.extend(f"  - {i.describe()}" for i in analysis.target_interactions)
    return "\n".join(lines).rstrip()
