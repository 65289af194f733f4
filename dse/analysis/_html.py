"""A self-contained HTML report (plotly.js inline, no network needed to open it)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from dse.analysis._effects import accuracy_words
from dse.analysis._text import FRONT_MEASURES, highlights, shown_effects
from dse.core.layers import CHOICE_LAYERS, LAYERS

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from dse.analysis._analysis import Analysis, TargetAnalysis

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}
h2{border-bottom:2px solid #444}li{margin:4px 0}"""


def _fig_html(fig: go.Figure) -> str:
    return fig.to_html(include_plotlyjs=False, full_html=False)


def front_figure(t: TargetAnalysis, color_by: str = "algorithm") -> go.Figure:
    """All real feasible points (colored by a layer) and the front as a step line."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for choice, rows in t.points.groupby(color_by):
        fig.add_trace(
            go.Scatter(
                x=rows["latency_ms"],
                y=rows["accuracy"],
                mode="markers",
                name=f"{color_by}={choice}",
                text=[f"{s}#{n}<br>{c}" for s, n, c in zip(rows["study"], rows["trial"], rows["config"], strict=True)],
                hovertemplate="%{text}<br>%{x:.4g} ms, accuracy %{y:.4f}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=t.front["latency_ms"],
            y=t.front["accuracy"],
            mode="lines+markers",
            line={"shape": "hv", "color": "black"},
            marker={"symbol": "star", "size": 11},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (t.front["accuracy_high"] - t.front["accuracy"]).tolist(),
                "arrayminus": (t.front["accuracy"] - t.front["accuracy_low"]).tolist(),
                "thickness": 1,
            },
            name="Pareto front (95% accuracy intervals)",
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        title=f"{t.target}: accuracy vs latency (real measurements)",
        xaxis={"title": "latency (ms, log)", "type": "log"},
        yaxis={"title": "accuracy"},
    )
    return fig


def shares_figure(t: TargetAnalysis) -> go.Figure:
    import plotly.graph_objects as go

    labels = [f"{s.layer}={s.choice}" for s in t.shares]
    fig = go.Figure(
        [
            go.Bar(name="share of trials", x=labels, y=[s.share_trials for s in t.shares]),
            go.Bar(name="share of the front", x=labels, y=[s.share_front for s in t.shares]),
        ]
    )
    fig.update_layout(
        barmode="group", title=f"{t.target}: layer choices on the front vs in all trials", yaxis={"tickformat": ".0%"}
    )
    return fig


def importance_figure(t: TargetAnalysis) -> go.Figure | None:
    import plotly.graph_objects as go

    if isinstance(t.importance, str):
        return None
    fig = go.Figure(
        [
            go.Bar(name=objective, y=list(values), x=list(values.values()), orientation="h")
            for objective, values in t.importance.items()
        ]
    )
    fig.update_layout(barmode="group", title=f"{t.target}: parameter importance per objective")
    return fig


def hypervolume_figure(t: TargetAnalysis) -> go.Figure | None:
    import plotly.graph_objects as go

    if not t.hv_history:
        return None
    fig = go.Figure(
        [
            go.Scatter(y=values, x=list(range(1, len(values) + 1)), mode="lines", name=study)
            for study, values in t.hv_history.items()
        ]
    )
    fig.update_layout(
        title=f"{t.target}: hypervolume vs distinct measured configurations "
        "(-accuracy, log10 latency; reference: front nadir + 10% of the points' range)",
        xaxis={"title": "configurations measured"},
        yaxis={"title": "hypervolume"},
    )
    return fig


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-", border=0)


def _items(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def target_html(t: TargetAnalysis) -> list[str]:
    parts = [f"<h2>Target {html.escape(t.target)}</h2>"]
    if t.front.empty:
        return [*parts, "<p>No feasible real measurement.</p>"]
    color_by = max(LAYERS, key=lambda layer: t.points[layer].nunique())
    parts += [
        _fig_html(front_figure(t, color_by)),
        "<h3>Pareto front</h3>",
        _table(
            t.front[[*FRONT_MEASURES, "model", *(f"{layer}_label" for layer in CHOICE_LAYERS)]].rename(
                columns={f"{layer}_label": layer for layer in CHOICE_LAYERS}
            )
        ),
        _fig_html(shares_figure(t)),
        _items(highlights(t.shares, t.dominant)),
    ]
    shown = shown_effects(t.effects)
    if shown:
        parts.append("<h3>Layer swaps, all else equal (parameter changes only where clear)</h3>")
        parts.append(
            _items(
                [
                    f"{e.layer}: {e.a1} vs {e.a2}: latency x{e.latency_ratio:.2f} over {e.n_pairs} pairs "
                    f"({e.a1} faster beyond noise in {e.n_a1_faster}, {e.a2} in {e.n_a2_faster}), "
                    f"{accuracy_words(e)}"
                    for e in shown
                ]
            )
        )
    parts.append("<h3>Across-stack interactions</h3>")
    parts.append(
        _items([i.describe() for i in t.interactions]) if t.interactions else "<p>None supported by the data.</p>"
    )
    for fig in (importance_figure(t), hypervolume_figure(t)):
        if fig is not None:
            parts.append(_fig_html(fig))
    if not t.emulated_front.empty:
        parts += [
            "<h3>Emulated front (functional timings only, not comparable)</h3>",
            _table(t.emulated_front[["study", "trial", "accuracy", "latency_ms", "config"]]),
        ]
    return parts


def render_html(analysis: Analysis) -> str:
    """The report as one HTML document with plotly.js embedded."""
    from plotly.offline import get_plotlyjs

    body = [f"<h1>dse analysis: {html.escape(', '.join(analysis.studies))}</h1>"]
    for t in analysis.targets.values():
        body += target_html(t)
    if analysis.ranks is not None:
        body += [
            "<h2>Across targets: latency rank of the same configuration</h2>",
            _table(analysis.ranks.spearman.reset_index()),
            _table(analysis.ranks.table.drop(columns="config_key")),
        ]
    if analysis.target_interactions:
        body += ["<h3>Target-dependent effects</h3>", _items([i.describe() for i in analysis.target_interactions])]
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>dse analysis</title><style>{_STYLE}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>{''.join(body)}</body></html>"
    )
