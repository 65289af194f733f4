"""Plots and the HTML page of a search-efficiency comparison."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def curve_figure(curve: pd.DataFrame) -> go.Figure:
    """Median hypervolume share over seeds vs trials and vs (simulated) wall time, per sampler."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("vs trials", "vs wall time (simulated cold, s)"))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    for i, (sampler, runs) in enumerate(curve.groupby("sampler", sort=False)):
        color = palette[i % len(palette)]
        by_trial = runs.groupby("trial_index")["hv_share"]
        fig.add_trace(
            go.Scatter(
                x=by_trial.median().index,
                y=100 * by_trial.median(),
                name=str(sampler),
                line={"color": color},
                legendgroup=str(sampler),
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=by_trial.min().index,
                y=100 * by_trial.min(),
                line={"color": color, "dash": "dot"},
                name=f"{sampler} worst seed",
                legendgroup=str(sampler),
                showlegend=False,
            ),
            row=1,
            col=1,
        )
        for seed, run in runs.groupby("seed", dropna=False):
            fig.add_trace(
                go.Scatter(
                    x=run["wall_s"],
                    y=100 * run["hv_share"],
                    line={"color": color},
                    opacity=0.6,
                    name=f"{sampler} seed {seed}",
                    legendgroup=str(sampler),
                    showlegend=False,
                ),
                row=1,
                col=2,
            )
    for level in (90, 95, 99):
        fig.add_hline(y=level, line={"dash": "dash", "color": "grey", "width": 1})
    fig.update_yaxes(title_text="% of the exhaustive front's hypervolume")
    fig.update_layout(title="Search efficiency: hypervolume reached (median over seeds; dotted: worst seed)")
    return fig


def render_compare_html(curve: pd.DataFrame, table: pd.DataFrame, notes: list[str]) -> str:
    from plotly.offline import get_plotlyjs

    body = [
        "<h1>dse: exhaustive vs guided search</h1>",
        "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>",
        curve_figure(curve).to_html(include_plotlyjs=False, full_html=False),
        table.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-", border=1),
    ]
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>dse compare</title>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body style='font-family:system-ui,sans-serif'>{''.join(body)}</body></html>"
    )
