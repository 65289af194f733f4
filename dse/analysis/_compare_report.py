"""Runs a comparison end to end and renders its table (the composition root of dse.compare)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dse.errors import UsageError

if TYPE_CHECKING:
    from dse.analysis._compare import CompareConfig
    from search_spaces import SearchSpace


def run_and_report(config: CompareConfig, space: SearchSpace, html: Path | None, csv: Path | None) -> str:
    """Run (or resume) every study of the comparison; write CSV/HTML; return the printable table."""
    import os

    base = config.base
    os.environ["TVM_NUM_THREADS"] = str(base.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(base.threads))
    from search_spaces.targets import TARGETS

    TARGETS.get(base.target).check_reachable(base.device)
    try:
        base.work_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--work-dir {str(base.work_dir)!r} cannot be created ({exc}); pick a writable folder") from None
    from dse.run import prepare_weights

    weights = prepare_weights(base)
    import torch

    torch.set_num_threads(base.threads)
    from dse.analysis._compare import LEVELS, curves, reach_table, run_compare
    from dse.analysis._compare_html import render_compare_html
    from dse.study import redact

    studies = run_compare(config, space, weights)
    curve, best, reference = curves(studies, base.study_name)
    table = reach_table(curve)
    notes = [
        (f"space: {len(studies[0].trials)} distinct configurations of {', '.join(base.space.models)} on {base.target}; "
        f"guided runs: {config.n_trials} trials x seeds {','.join(map(str, config.seeds))}"),
        (f"hypervolume on (-accuracy, log10 latency_ms); reference point {reference.round(4).tolist()} = "
        f"nadir of the exhaustive front + 10% of the range of all its measured points; exhaustive front HV = {best:.4g}"),
        ("trials/wall s to X%: median over the seeds that reached X% (reached: how many did); wall time is "
        "simulated cold: trial duration plus the cached evaluation's own time the first time a run meets it"),
        f"studies stored in {redact(base.storage)} as {base.study_name}-<sampler>-s<seed>",
    ]
    if csv is not None:
        curve.to_csv(csv, index=False)
        notes.append(f"curves CSV: {csv}")
    if html is not None:
        html.write_text(render_compare_html(curve, table, notes), encoding="utf-8")
        notes.append(f"HTML: {html}")
    shown = table.drop(columns=[c for c in table.columns if c.startswith("wall s to") and "99" not in c])
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-")
    return "\n".join([(f"Search efficiency ({', '.join(f'{level:.0%}' for level in LEVELS)} of the exhaustive "
                      "front's hypervolume):"), text, *[f"- {n}" for n in notes]])
