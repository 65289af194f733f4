"""Frozen, validated configuration objects. Units live in the names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dse.core.errors import UsageError

SAMPLERS = ("tpe", "nsga2", "gp", "random", "qmc", "layered", "grid")

#: A running trial's heartbeat must come at least this often (a day; longer overflows timers).
MAX_HEARTBEAT_INTERVAL_S = 86_400.0


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


@dataclass(frozen=True)
class MeasureConfig:
    """The latency protocol (TVM's time_evaluator): ``repeat`` samples, each at least ``min_repeat_ms`` long."""

    repeat: int = 10
    min_repeat_ms: int = 100
    warmup_runs: int = 1
    #: A measurement whose coefficient of variation exceeds this is noisy and is taken again.
    max_cv: float = 0.05
    #: How many extra measurements a noisy one may get; every attempt's raw samples are kept.
    max_remeasure: int = 2
    #: A measurement during which other processes kept more than this many cores busy (on
    #: average) is disturbed and taken again: a steady load slows a kernel without raising its CV.
    max_foreign_load: float = 0.25
    #: Samples per MetaSchedule candidate: candidates are only ranked against each other, so one
    #: sample of ``min_repeat_ms`` is enough (the winner is measured as a trial afterwards).
    candidate_repeat: int = 1

    def __post_init__(self) -> None:
        _require(self.repeat >= 2, f"--repeat must be >= 2, got repeat={self.repeat}")
        _require(self.min_repeat_ms >= 0, f"--min-repeat-ms must be >= 0, got min_repeat_ms={self.min_repeat_ms}")
        _require(self.warmup_runs >= 0, f"warmup_runs must be >= 0, got warmup_runs={self.warmup_runs}")
        _require(self.max_cv > 0, f"--max-cv must be > 0, got max_cv={self.max_cv}")
        _require(self.max_foreign_load > 0, f"max_foreign_load must be > 0, got {self.max_foreign_load}")
        _require(self.max_remeasure >= 0, f"--max-remeasure must be >= 0, got max_remeasure={self.max_remeasure}")
        _require(
            self.candidate_repeat >= 1, f"candidate_repeat must be >= 1, got candidate_repeat={self.candidate_repeat}"
        )


@dataclass(frozen=True)
class DeviceOptions:
    """How to reach the measurement device: the host itself, an RPC tracker, or one RPC server."""

    rpc_tracker: str | None = None  # HOST:PORT
    rpc_key: str | None = None
    rpc_server: str | None = None  # HOST:PORT
    session_timeout_s: int = 600

    def __post_init__(self) -> None:
        for flag, value in (("--rpc-tracker", self.rpc_tracker), ("--rpc", self.rpc_server)):
            if value is not None:
                parse_host_port(value, flag)
        _require(
            (self.rpc_tracker is None) == (self.rpc_key is None),
            "--rpc-tracker and --rpc-key go together: give both, or neither",
        )
        _require(not (self.rpc_tracker and self.rpc_server), "give either --rpc-tracker/--rpc-key or --rpc, not both")
        _require(self.session_timeout_s >= 1, f"--rpc-session-timeout must be >= 1 s, got {self.session_timeout_s}")

    @property
    def remote(self) -> bool:
        return self.rpc_tracker is not None or self.rpc_server is not None


def parse_host_port(value: str, flag: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    _require(bool(host) and port.isdigit() and 0 < int(port) < 65536, f"{flag} must be HOST:PORT, got {value!r}")
    return host, int(port)


@dataclass(frozen=True)
class SpaceConfig:
    """Which choices of each searched layer the study may take (empty: every registered one)."""

    models: tuple[str, ...]
    pruning: tuple[str, ...] = ()
    precision: tuple[str, ...] = ()
    algorithm: tuple[str, ...] = ()
    tuning: tuple[str, ...] = ()
    runtime: tuple[str, ...] = ()
    #: ``--param``: (``layer.choice.key``, the values it keeps, as given) - a smaller grid of one choice.
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class StudyConfig:
    """Everything one ``python -m dse.optimize`` run needs."""

    target: str
    dataset: str
    space: SpaceConfig
    storage: str
    study_name: str
    work_dir: Path
    data_dir: Path | None = None
    weights: str = "train"
    n_trials: int = 10
    timeout_s: float | None = None
    sampler: str = "tpe"
    seed: int | None = 0
    threads: int = 1
    eval_limit: int | None = None
    trial_timeout_s: float = 1800.0
    tuning_db: Path | None = None
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    device: DeviceOptions = field(default_factory=DeviceOptions)
    #: Worker threads in this process, each with its own evaluation process.
    n_jobs: int = 1
    #: How often a failed trial whose reason is retryable (timeout, crash, device lost) is re-queued.
    max_retries: int = 1
    #: Re-measure the Pareto front's latencies once the budget is spent.
    remeasure_front: bool = False
    #: A running trial records a heartbeat this often; one silent for 3 intervals is a dead worker's.
    heartbeat_interval_s: float = 20.0
    #: Write the HTML report and the trials CSV beside the study at the end.
    report: bool = True
    #: At most this many extra trials that confirm or reject the interactions the study suggests.
    verify: int = 0

    def __post_init__(self) -> None:
        _require(self.n_jobs > 0, f"--n-jobs must be > 0, got n_jobs={self.n_jobs}")
        _require(self.max_retries >= 0, f"--max-retries must be >= 0, got max_retries={self.max_retries}")
        _require(
            0 < self.heartbeat_interval_s <= MAX_HEARTBEAT_INTERVAL_S,
            f"--heartbeat-interval must be in (0, {MAX_HEARTBEAT_INTERVAL_S:g}] seconds, "
            f"got heartbeat_interval={self.heartbeat_interval_s}",
        )
        _require(
            self.tuning_db is None or not self.tuning_db.exists() or self.tuning_db.is_dir(),
            f"--tuning-db {str(self.tuning_db)!r} is a file; it names a folder of MetaSchedule records "
            "(give a folder, or leave it out for <work-dir>/tuning/<target>)",
        )
        _require(self.n_trials > 0, f"--n-trials must be > 0, got n_trials={self.n_trials}")
        _require(self.verify >= 0, f"--verify must be >= 0, got verify={self.verify}")
        _require(self.timeout_s is None or self.timeout_s > 0, f"--timeout must be > 0, got timeout={self.timeout_s}")
        _require(self.sampler in SAMPLERS, f"--sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        _require(self.threads > 0, f"--threads must be > 0, got threads={self.threads}")
        _require(
            self.eval_limit is None or self.eval_limit > 0,
            f"--eval-limit must be > 0, got eval_limit={self.eval_limit}",
        )
        _require(self.trial_timeout_s > 0, f"--trial-timeout must be > 0, got trial_timeout={self.trial_timeout_s}")
        _require(len(self.space.models) > 0, "--models must name at least one model")
