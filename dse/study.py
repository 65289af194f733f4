"""Optuna storage, sampler and study set-up. Nothing here touches storage before validation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.core.errors import UsageError

if TYPE_CHECKING:
    import optuna

    from dse.core.config import StudyConfig
    from search_spaces import SearchSpace
    from search_spaces.models import ResolvedWeights

JOURNAL_PREFIX = "journal:"
STORAGE_HELP = "use sqlite:///path/to/file.db, postgresql://user@host/db or journal:path/to/file.log"

#: SQLite waits this long for another worker's write lock instead of failing at once.
SQLITE_BUSY_TIMEOUT_S = 60


def default_storage(work_dir: Path) -> str:
    return f"sqlite:///{work_dir / 'dse.db'}"


def redact(url: str) -> str:
    """The storage URL with any password hidden, for printing and for records."""
    if url.startswith(JOURNAL_PREFIX):
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (malformed: show nothing that could be a secret)
        return "<unparseable storage URL>"


def scrub(text: str, url: str) -> str:
    """``text`` with the password of ``url`` removed (driver errors sometimes quote the URL)."""
    if url.startswith(JOURNAL_PREFIX):
        return text
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 (malformed URL: hide it whole)
        return text.replace(url, "<storage URL>")
    return text.replace(url, redact(url)).replace(str(password), "***") if password else text


def validate_storage_url(url: str, will_create: Path | None = None) -> None:
    """Check the URL's form (and a file's folder) without connecting or creating anything.

    ``will_create`` is a folder the caller creates before opening the storage (optimize's
    ``--work-dir``): a storage file directly in it is fine on a fresh checkout, where it is missing yet.
    """

    def folder_is_missing(folder: Path) -> bool:
        resolved = folder.resolve()
        if resolved.is_dir():
            return False
        return will_create is None or resolved != will_create.resolve()

    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX) :])
        if not path.name:
            raise UsageError(f"--storage {url!r} names no journal file; {STORAGE_HELP}")
        if folder_is_missing(path.parent):
            raise UsageError(f"--storage journal folder {str(path.parent)!r} does not exist; create it first")
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(f"--storage {redact(url)!r} is not a storage URL; {STORAGE_HELP}") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if folder_is_missing(folder):
            raise UsageError(f"--storage folder {str(folder)!r} does not exist; create it or pick another path")


def require_existing_storage(url: str) -> None:
    """For tools that only read: a SQLite file or journal that does not exist is a usage error
    (opening it would create an empty storage where the user expected their study)."""
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX) :])
    else:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return  # a server: opening it creates nothing the user did not have
        path = Path(parsed.database)
    if not path.is_file():
        raise UsageError(f"--storage {redact(url)!r}: no such file; run python -m dse.optimize first or fix the path")


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Open (creating if needed) the storage.

    Dead workers are found by dse's own heartbeats (``dse.lifecycle``), which work with every
    storage, so Optuna's RDB heartbeat is not switched on (it only runs inside ``study.optimize``).
    """
    import optuna
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    try:
        if url.startswith(JOURNAL_PREFIX):
            return JournalStorage(JournalFileBackend(url[len(JOURNAL_PREFIX) :]))
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}} if url.startswith("sqlite") else {}
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                return RDBStorage(with_installed_driver(url), engine_kwargs=engine_kwargs)
            except Exception as exc:  # re-raised unless a lost creation race
                # Workers started together race to create the tables of a new storage; the
                # losers see "already exists" / a duplicate key and simply open it again.
                if attempt + 1 == _CREATE_ATTEMPTS or not _lost_creation_race(exc):
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")
    except (ImportError, ModuleNotFoundError) as exc:
        raise UsageError(
            f"--storage {redact(url)!r} needs a database driver ({scrub(str(exc), url)}); "
            "pip install it (PostgreSQL: pip install psycopg2-binary)"
        ) from None
    except Exception as exc:  # noqa: BLE001 (OperationalError, a damaged journal & co: unreachable or unreadable)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"Cannot open --storage {redact(url)!r}: {scrub(message, url)}; check the URL, "
            "that the server runs, or that the file is an Optuna storage"
        ) from None
    finally:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


_CREATE_ATTEMPTS = 5


def with_installed_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; many installs (and CI images)
    carry psycopg2 instead. An explicit ``postgresql+driver://`` is left alone.
    """
    import importlib.util

    if not url.startswith("postgresql://") or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def _lost_creation_race(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(sign in text for sign in ("already exists", "duplicate key", "uniqueviolation", "unique constraint"))


def make_sampler(config: StudyConfig, space: SearchSpace) -> optuna.samplers.BaseSampler:
    import optuna

    seed = config.seed
    samplers: dict[str, Any] = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True),
        "nsga2": lambda: optuna.samplers.NSGAIISampler(
            seed=seed, population_size=min(50, max(4, config.n_trials // 2))
        ),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "qmc": lambda: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
        "layered": lambda: _layered_sampler(space, seed),
        # Exhaustive search queues the distinct configurations itself (enqueue_grid); the
        # sampler only fills parameters a queued trial lacks, which none does.
        "grid": lambda: optuna.samplers.RandomSampler(seed=seed),
    }
    return samplers[config.sampler]()


def _layered_sampler(space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    from dse.layered_sampler import LayeredSampler

    return LayeredSampler(space, seed)


#: Exhaustive search refuses spaces larger than this (listing them alone would take minutes).
GRID_LIMIT = 200_000


def check_grid_size(space: SearchSpace) -> int:
    """The number of distinct configurations, or a UsageError when exhaustive search cannot cover it."""
    from search_spaces import count_configurations

    count = count_configurations(space)
    if count > GRID_LIMIT:
        raise UsageError(
            f"--sampler grid over {count:,} distinct configurations exceeds {GRID_LIMIT:,}; restrict the space "
            "with --models, --pruning, --precision, --algorithms, --tuning, or use a guided sampler"
        )
    return count


def enqueue_grid(study: optuna.Study, space: SearchSpace, seed: int | None, n_trials: int) -> int:
    """Queue the next distinct configurations not yet tried, in a seeded order, up to the budget:
    those without a costly choice (auto-tuning) first, so a run stopped early (--timeout) has
    measured the cheap part of the space rather than a few tuned points.

    Optuna's GridSampler takes the product of every parameter, including those of choices a
    trial did not take, so exhaustive search enumerates distinct configurations instead.
    Returns how many were queued.
    """
    import random

    import optuna

    from search_spaces import distinct_configurations

    configs = distinct_configurations(space)
    random.Random(seed).shuffle(configs)
    configs.sort(key=space.costly_choices)  # stable: the seeded order within each cost class
    trials = study.get_trials(deepcopy=False)
    seen = {_params_key(t.params) for t in trials if t.state is not optuna.trial.TrialState.FAIL}
    room = n_trials - len(trials)
    queued = 0
    for params in configs:
        if queued >= room:
            break
        if _params_key(params) not in seen:
            study.enqueue_trial(params, skip_if_exists=True)
            queued += 1
    return queued


def _params_key(params: dict[str, Any]) -> str:
    import json

    return json.dumps(params, sort_keys=True, default=str)


def study_identity(
    config: StudyConfig, space: SearchSpace | None, weights: dict[str, ResolvedWeights] | None = None
) -> dict[str, Any]:
    """Everything that decides what a study's accuracies and latencies mean.

    A study resumed (or joined by another worker) with any of it different would mix
    incomparable measurements, so :func:`create_or_load_study` refuses that. Measurement keys
    are the options' flags, so a refusal can name the option.
    """
    from search_spaces.targets import TARGETS, device_identity

    preset = TARGETS.get(config.target)
    measurement: dict[str, Any] = {
        "--threads": config.threads,
        "--repeat": config.measure.repeat,
        "--min-repeat-ms": config.measure.min_repeat_ms,
        "--eval-limit": config.eval_limit,
        "--data-dir": str(config.data_dir.resolve()) if config.data_dir else None,
        "the measurement device": device_identity(config.target, config.device, preset.measured_on_host_cpu),
    }
    if weights is not None:
        measurement["--weights"] = {model: resolved.sha256 for model, resolved in sorted(weights.items())}
    space_grid = space.grid() if space is not None else None
    if space_grid is not None and space_grid.get("runtime") == ["tvm"]:
        del space_grid["runtime"]  # a TVM-only space is the one studies made before runtimes searched
    return {"dataset": config.dataset, "target": config.target, "space": space_grid, "measurement": measurement}


def rebuild_conflict(study: optuna.Study, config: StudyConfig, model: str, weights: ResolvedWeights) -> str | None:
    """For a tool that rebuilds one of the study's trials (``dse.export``): one line naming the
    option whose value differs from the study's (data, target, device, protocol, the model's
    weights), or None. The search space is not compared: one configuration is rebuilt."""
    stored = study.user_attrs.get("dse")
    if stored is None:
        return None
    current = _jsonable(study_identity(config, None, {model: weights}))
    current["space"] = stored.get("space")
    stored_weights = stored.get("measurement", {}).get("--weights")
    if isinstance(stored_weights, dict):
        current["measurement"]["--weights"] = {**stored_weights, **current["measurement"]["--weights"]}
    return identity_conflict(stored, current, study.study_name)


def identity_conflict(stored: dict[str, Any], current: dict[str, Any], study_name: str) -> str | None:
    """One line naming the first option that differs between a stored identity and this run's."""
    fix = "re-run with the study's value or choose a new --study-name"
    for key, flag in (("dataset", "--dataset"), ("target", "--target")):
        if key in stored and stored[key] != current[key]:
            return f"Study {study_name!r} was created with {flag} {stored[key]}, this run has {current[key]}; {fix}"
    if "space" in stored and stored["space"] != current["space"]:
        return (
            f"Study {study_name!r} was created with another search space (--models, --pruning, --precision, "
            f"--algorithms, --tuning or the registered choices differ); {fix}"
        )
    for flag, value in current["measurement"].items():
        old = stored.get("measurement", {}).get(flag, value)  # studies made before a key existed: not checked
        if old != value:
            if flag == "--weights":
                changed = sorted(m for m in value if old.get(m) != value[m])
                detail = f"other --weights (the checkpoint of {', '.join(changed) or 'a model'} differs)"
                return f"Study {study_name!r} was measured with other weights; this run has {detail}; {fix}"
            if flag == "the measurement device":
                return (
                    f"Study {study_name!r} was measured on another device ({_describe(old)}), this run's is "
                    f"{_describe(value)}; run on the study's device or choose a new --study-name"
                )
            return f"Study {study_name!r} was measured with {flag} {old}, this run has {flag} {value}; {fix}"
    return None


def _describe(device: dict[str, Any]) -> str:
    cpu = device.get("cpu")
    if cpu:
        return f"{cpu.get('name')} with {cpu.get('cores')} cores"
    return ", ".join(f"{k} {v}" for k, v in device.items() if v)


def create_or_load_study(
    config: StudyConfig, space: SearchSpace, weights: dict[str, ResolvedWeights] | None = None
) -> optuna.Study:
    """Create the study, or resume it when it exists with the same identity (:func:`study_identity`).

    A conflict is found before anything is written: the existing study is read, not opened
    for writing, so a refused run leaves the storage byte-identical.
    """
    import warnings

    import optuna

    from dse.core.record import DIRECTIONS, OBJECTIVES

    storage = open_storage(config.storage)
    identity = _jsonable(study_identity(config, space, weights))
    try:
        existing = optuna.load_study(study_name=config.study_name, storage=storage).user_attrs.get("dse")
    except KeyError:  # no such study yet
        existing = None
    if existing is not None:
        conflict = identity_conflict(existing, identity, config.study_name)
        if conflict:
            raise UsageError(conflict)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            study_name=config.study_name,
            storage=storage,
            sampler=make_sampler(config, space),
            directions=list(DIRECTIONS),  # type: ignore[arg-type]  # Optuna's Literal of the same strings
            load_if_exists=True,
        )
    if study.user_attrs.get("dse") is None:
        with warnings.catch_warnings():  # stable in practice since Optuna 3.2; still flagged experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(OBJECTIVES))
        study.set_user_attr("dse", identity)
    return study


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))
