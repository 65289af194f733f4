from __future__ import annotations

from pathlib import Path

import pytest

from dse.core.config import DeviceOptions, MeasureConfig, SpaceConfig, StudyConfig
from dse.core.errors import UsageError


def _study(**overrides: object) -> StudyConfig:
    fields: dict[str, object] = dict(
        target="x86",
        dataset="digits",
        space=SpaceConfig(models=("tiny_cnn",)),
        storage="sqlite:///x.db",
        study_name="s",
        work_dir=Path("w"),
    )
    fields.update(overrides)
    return StudyConfig(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_trials": 0}, "--n-trials must be > 0, got n_trials=0"),
        ({"sampler": "bayes"}, "--sampler must be one of"),
        ({"threads": 0}, "--threads must be > 0"),
        ({"eval_limit": 0}, "--eval-limit must be > 0"),
        ({"space": SpaceConfig(models=())}, "--models must name at least one model"),
    ],
)
def test_study_config_rejects_bad_values(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _study(**overrides)


def test_measure_config_rejects_single_repeat() -> None:
    with pytest.raises(UsageError, match="--repeat must be >= 2"):
        MeasureConfig(repeat=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rpc_tracker": "localhost"}, "--rpc-tracker must be HOST:PORT"),
        ({"rpc_tracker": "h:1"}, "--rpc-tracker and --rpc-key go together"),
        ({"rpc_server": "h:99999"}, "--rpc must be HOST:PORT"),
    ],
)
def test_device_options_validation(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        DeviceOptions(**kwargs)


def test_configs_are_frozen() -> None:
    config = _study()
    with pytest.raises(AttributeError):
        config.n_trials = 3  # type: ignore[misc]
