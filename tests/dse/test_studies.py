"""Every study file shipped in ``studies/`` is a valid configuration a user can copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.optimize import config_from_args, parse_args

STUDIES = sorted((Path(__file__).resolve().parents[2] / "studies").glob("*.toml"))


def test_studies_folder_ships_presets() -> None:
    assert len(STUDIES) >= 3


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_file_parses_into_a_configuration(path: Path) -> None:
    config = config_from_args(parse_args(["--config", str(path)]))
    assert config.n_trials > 0 and config.space.models
    assert config.study_name == path.read_text().split('study-name = "')[1].split('"')[0]
