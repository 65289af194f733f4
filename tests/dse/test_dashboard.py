"""Studies open in optuna-dashboard as they are: listed, Pareto front, metric and layer names.

Talks to the dashboard's own WSGI app over HTTP (the JSON API its web UI uses).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from dse.analysis import analyze
from dse.analysis._synthetic import add_trials
from tests._capabilities import require

require("optuna-dashboard")  # skips this module without it; under CI, which installs it, fails instead
import optuna_dashboard  # only once the capability check passed

SPACE = {
    "model": ["tiny_cnn"],
    "pruning": ["none", "channel"],
    "precision": ["fp32", "int8"],
    "algorithm": ["direct", "im2col_gemm"],
    "tuning": ["untuned"],
}


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dashboard(tmp_path) -> Iterator[tuple[str, object]]:
    from dse.core.config import SpaceConfig, StudyConfig
    from dse.study import create_or_load_study
    from search_spaces import SearchSpace

    url = f"sqlite:///{tmp_path / 'dse.db'}"
    config = StudyConfig(
        target="x86",
        dataset="digits",
        storage=url,
        study_name="dse-x86-digits",
        work_dir=tmp_path,
        space=SpaceConfig(
            models=("tiny_cnn",),
            pruning=("none", "channel"),
            precision=("fp32", "int8"),
            algorithm=("direct", "im2col_gemm"),
            tuning=("untuned",),
        ),
    )
    study = create_or_load_study(config, SearchSpace(config.space, config.dataset, config.target))  # as dse.optimize
    add_trials(
        study,
        SPACE,
        lambda c: (
            (0.5 if c["precision"] == "int8" else 1.0)
            * (0.6 if c["pruning"] == "channel" else 1.0)
            * (0.7 if c["algorithm"] == "im2col_gemm" else 1.0)
        ),
        lambda c: 0.95 - (0.05 if c["pruning"] == "channel" else 0.0) - (0.01 if c["precision"] == "int8" else 0),
    )
    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(url), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", study
    finally:
        server.shutdown()


def _get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.loads(response.read())


def test_dashboard_lists_the_study_and_its_pareto_front(dashboard) -> None:
    base, study = dashboard
    listed = _get(base, "/api/studies")["study_summaries"]
    summary = next(s for s in listed if s["study_name"] == "dse-x86-digits")
    assert summary["directions"] == ["maximize", "minimize"]
    detail = _get(base, f"/api/studies/{summary['study_id']}")
    assert detail["objective_names"] == ["accuracy", "latency_ms"]
    expected = analyze([study], evaluator=None).targets["x86"].front
    front_numbers = sorted(t["number"] for t in detail["best_trials"])
    assert front_numbers == sorted(expected["trial"].tolist())
    params = {p["name"] for p in detail["union_search_space"]}
    assert {"pruning", "precision", "algorithm", "tuning", "model"} <= params
    user_attrs = {a["key"] for a in detail["union_user_attrs"]}
    assert {"accuracy", "latency_ms", "config", "target", "latency"} <= user_attrs
    first = detail["trials"][0]
    config = next(a["value"] for a in first["user_attrs"] if a["key"] == "config")
    assert "precision" in config  # dict attributes come through as readable JSON text


def test_dashboard_serves_its_page(dashboard) -> None:
    base, _ = dashboard
    with urllib.request.urlopen(base + "/dashboard", timeout=30) as response:
        assert response.status == 200 and b"<html" in response.read().lower()


def test_dashboard_renders_in_a_real_browser(dashboard, tmp_path) -> None:
    """Headless Chromium loads the study page: the React app fetched the study and drew it."""
    from tests._browser import dump_dom

    base, _ = dashboard
    study_id = _get(base, "/api/studies")["study_summaries"][0]["study_id"]
    dom = dump_dom(f"{base}/dashboard/studies/{study_id}", tmp_path / "profile")
    assert "dse-x86-digits" in dom
    assert "Pareto Front" in dom and "latency_ms" in dom
