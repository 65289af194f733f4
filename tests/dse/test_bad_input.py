"""Bad input everywhere: each case is one line on stderr naming the fix, exit code 2, storage untouched.

The cases run ``dse.optimize.main`` in-process against a storage that already holds a study;
after every case the storage file has the same bytes and modification time, and no default
storage was created in the work folder.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from dse.optimize import main
from tests._studyrun import trial_flags

BASE = trial_flags(eval_limit=20, repeat=2, min_repeat_ms=1, algorithms="tvm_default", n_trials="1")


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]
    message: str
    absent: str | None = None  # text that must NOT appear (secrets)


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files the cases point at: study files, data folders, user model modules, checkpoints."""
    import torch

    root = tmp_path_factory.mktemp("inputs")
    _write(root / "malformed.toml", "n-trials = = 3\n")
    _write(root / "unknown_key.toml", "n-trail = 3\n")
    _write(root / "bad_value.toml", 'n-trials = "ten"\n')
    _write(root / "bad_type.toml", "models = {tiny = 1}\n")
    _write(root / "flag_not_bool.toml", "remeasure-front = 1\n")
    (root / "empty").mkdir()
    _write(root / "images" / "cat" / "broken.png", b"this is not a png")
    _write(root / "not_a_dir.txt", "x")
    _write(root / "not_a_db.db", "plain text, not SQLite\n")
    _write(root / "garbage.pt", b"\x00\x01 not a checkpoint")
    torch.save({"unrelated.weight": torch.zeros(2)}, root / "foreign.pt")
    from search_spaces.models import build_model

    # An untrained checkpoint of the right shape: no case trains a model before failing.
    torch.save(build_model("tiny_cnn", 10, (1, 8, 8)).state_dict(), root / "tiny_cnn.pt")
    _write(
        root / "usermodels_bad.py",
        textwrap.dedent("""
        def raises(num_classes):
            raise ValueError("factory needs a GPU")
        def wrong_type(num_classes):
            return 42
    """),
    )
    return root


def _cases(root: Path) -> list[Case]:
    return [
        Case("n_trials_zero", ["--n-trials", "0"], "--n-trials must be > 0, got n_trials=0"),
        Case("n_trials_text", ["--n-trials", "ten"], "argument --n-trials: invalid int value: 'ten'"),
        Case("unknown_option", ["--frobnicate"], "unrecognized arguments: --frobnicate"),
        Case("unknown_target", ["--target", "x68"], "Unknown target 'x68'. Available: "),
        Case("unknown_dataset", ["--dataset", "mnist"], "Unknown dataset 'mnist'"),
        Case("unknown_model", ["--models", "tiny_cn"], "Unknown model 'tiny_cn'"),
        Case("empty_model_list", ["--models", ","], "expected a comma-separated list"),
        Case("unknown_algorithm", ["--algorithms", "winograd2"], "Unknown algorithm 'winograd2'"),
        Case("unknown_sampler", ["--sampler", "annealing"], "invalid choice: 'annealing'"),
        Case("threads_zero", ["--threads", "0"], "--threads must be > 0"),
        Case("repeat_one", ["--repeat", "1"], "--repeat must be >= 2, got repeat=1"),
        Case("eval_limit_zero", ["--eval-limit", "0"], "--eval-limit must be > 0"),
        Case("trial_timeout_negative", ["--trial-timeout", "-1"], "--trial-timeout must be > 0"),
        Case("max_cv_zero", ["--max-cv", "0"], "--max-cv must be > 0"),
        Case("n_jobs_zero", ["--n-jobs", "0"], "--n-jobs must be > 0"),
        Case("max_retries_negative", ["--max-retries", "-1"], "--max-retries must be >= 0"),
        Case("heartbeat_overflows", ["--heartbeat-interval", "1e308"], "--heartbeat-interval must be in (0, 86400]"),
        Case("timeout_nan", ["--timeout", "nan"], "argument --timeout: expected a finite number, got 'nan'"),
        Case("max_cv_inf", ["--max-cv", "inf"], "argument --max-cv: expected a finite number, got 'inf'"),
        Case("tuning_db_is_a_file", ["--tuning-db", str(root / "not_a_dir.txt")], "is a file; it names a folder"),
        Case("storage_not_a_url", ["--storage", "not a url"], "is not a storage URL; use sqlite:///"),
        Case("storage_folder_missing", ["--storage", "sqlite:////nonexistent/dse.db"], "does not exist"),
        Case("journal_folder_missing", ["--storage", "journal:/nonexistent/dse.log"], "does not exist; create it"),
        Case("storage_not_a_database", ["--storage", f"sqlite:///{root / 'not_a_db.db'}"], "Cannot open --storage"),
        Case(
            "storage_password_hidden",
            ["--storage", "postgresql://dse:s3cret@127.0.0.1:1/dse"],
            "postgresql://dse:***@127.0.0.1:1/dse",
            absent="s3cret",
        ),
        Case("rpc_without_port", ["--rpc", "localhost"], "--rpc must be HOST:PORT, got 'localhost'"),
        Case("tracker_without_key", ["--rpc-tracker", "127.0.0.1:9190"], "--rpc-tracker and --rpc-key go together"),
        Case("rpc_session_timeout_zero", ["--rpc-session-timeout", "0"], "--rpc-session-timeout must be >= 1 s, got 0"),
        Case("config_missing", ["--config", str(root / "nope.toml")], "does not exist; give the path of a TOML"),
        Case("config_malformed", ["--config", str(root / "malformed.toml")], "is not valid TOML"),
        Case("config_unknown_key", ["--config", str(root / "unknown_key.toml")], "Unknown key 'n-trail'. Available: "),
        Case(
            "config_bad_value",
            ["--config", str(root / "bad_value.toml")],
            "argument --n-trials: invalid int value: 'ten'",
        ),
        Case(
            "config_bad_type", ["--config", str(root / "bad_type.toml")], "models must be a string, a number or a list"
        ),
        Case(
            "config_flag_not_bool",
            ["--config", str(root / "flag_not_bool.toml")],
            "remeasure-front must be true or false",
        ),
        Case("cifar_without_data_dir", ["--dataset", "cifar10"], "needs --data-dir"),
        Case(
            "data_dir_is_a_file",
            ["--dataset", "cifar10", "--data-dir", str(root / "not_a_dir.txt")],
            "is not a directory",
        ),
        Case("cifar_empty_dir", ["--dataset", "cifar10", "--data-dir", str(root / "empty")], "holds no CIFAR-10"),
        Case(
            "imagefolder_empty_dir",
            ["--dataset", "imagefolder", "--data-dir", str(root / "empty")],
            "is not an ImageFolder",
        ),
        Case(
            "imagefolder_unreadable_image",
            ["--dataset", "imagefolder", "--data-dir", str(root / "images")],
            "Unreadable image",
        ),
        Case("user_model_missing_module", ["--models", "nosuchpkg.models:net"], "Cannot load user model"),
        Case(
            "user_model_factory_raises", ["--models", "usermodels_bad:raises"], "raised ValueError: factory needs a GPU"
        ),
        Case(
            "user_model_wrong_type",
            ["--models", "usermodels_bad:wrong_type"],
            "must return a torch.nn.Module, got int instead",
        ),
        Case("weights_missing", ["--weights", str(root / "missing.pt")], "no checkpoint file"),
        Case("weights_garbage", ["--weights", str(root / "garbage.pt")], "Cannot read weights"),
        Case("weights_foreign", ["--weights", str(root / "foreign.pt")], "do not fit this model"),
    ]


@pytest.fixture(scope="module")
def storage_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite storage that already holds a study with one finished trial."""
    import optuna

    path = tmp_path_factory.mktemp("storage") / "existing.db"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="kept", storage=f"sqlite:///{path}", directions=["maximize", "minimize"])
    study.enqueue_trial({"x": 1.0})
    study.optimize(lambda t: (t.suggest_float("x", 0, 2), 1.0), n_trials=1)
    return path


@pytest.fixture()
def storage(storage_template: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copy(storage_template, tmp_path / "existing.db"))


def _case_ids() -> list[str]:
    return [case.id for case in _cases(Path("/"))]


@pytest.mark.parametrize("case_id", _case_ids())
def test_bad_input(
    case_id: str,
    inputs: Path,
    storage: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = next(c for c in _cases(inputs) if c.id == case_id)
    monkeypatch.syspath_prepend(str(inputs))
    monkeypatch.setenv("TVM_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("DSE_NO_PROGRESS", "1")
    work_dir = tmp_path / "work"
    before = (storage.read_bytes(), storage.stat().st_mtime_ns)
    argv = [
        *BASE,
        "--weights",
        str(inputs / "tiny_cnn.pt"),
        "--work-dir",
        str(work_dir),
        "--storage",
        f"sqlite:///{storage}",
        *case.args,
    ]

    code = main(argv)

    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err, err
    assert case.message in err, err
    if case.absent:
        assert case.absent not in err
    assert (storage.read_bytes(), storage.stat().st_mtime_ns) == before, "the existing storage was modified"
    assert not (work_dir / "dse.db").exists(), "a storage was created despite the error"


def test_mismatched_study_is_refused_and_kept(
    inputs: Path, storage: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resuming a study with another search space stops before any trial; its records stay."""
    import optuna

    monkeypatch.setenv("TVM_NUM_THREADS", "1")
    monkeypatch.setenv("DSE_NO_PROGRESS", "1")
    url = f"sqlite:///{storage}"
    optuna.load_study(study_name="kept", storage=url).set_user_attr("dse", {"dataset": "other"})
    before = optuna.load_study(study_name="kept", storage=url).trials

    code = main(
        [
            *BASE,
            "--weights",
            str(inputs / "tiny_cnn.pt"),
            "--work-dir",
            str(tmp_path / "work"),
            "--storage",
            url,
            "--study-name",
            "kept",
        ]
    )

    err = capsys.readouterr().err.strip()
    assert code == 2 and "was created with --dataset other, this run has digits" in err, err
    after = optuna.load_study(study_name="kept", storage=url).trials
    assert [(t.number, t.state, t.values) for t in after] == [(t.number, t.state, t.values) for t in before]


@pytest.mark.parametrize(
    ("flag", "first", "second"),
    [
        ("--threads", "1", "2"),
        ("--repeat", "2", "3"),
        ("--min-repeat-ms", "1", "5"),
        ("--eval-limit", "20", "30"),
        ("--weights", "tiny_cnn.pt", "tiny_cnn_other.pt"),
    ],
)
def test_resuming_with_other_measurement_options_is_refused_byte_identical(
    flag: str,
    first: str,
    second: str,
    inputs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A study's latencies and accuracies stay comparable: another --threads (etc.) stops with one line."""
    import torch

    from dse.optimize import config_from_args, parse_args
    from dse.run import prepare
    from dse.study import create_or_load_study
    from search_spaces import SearchSpace
    from search_spaces.models import build_model

    monkeypatch.setenv("TVM_NUM_THREADS", "1")
    monkeypatch.setenv("DSE_NO_PROGRESS", "1")
    torch.manual_seed(1)
    torch.save(build_model("tiny_cnn", 10, (1, 8, 8)).state_dict(), inputs / "tiny_cnn_other.pt")
    db = tmp_path / "s.db"
    common = ["--models", "tiny_cnn", "--work-dir", str(tmp_path / "w"), "--storage", f"sqlite:///{db}"]
    common += ["--study-name", "s", "--n-trials", "1"]
    defaults = {"--threads": "1", "--repeat": "2", "--min-repeat-ms": "1", "--eval-limit": "20"}
    defaults["--weights"] = "tiny_cnn.pt"

    def argv(value: str) -> list[str]:
        options = {**defaults, flag: value}
        options["--weights"] = str(inputs / options["--weights"])
        return [*common, *(x for pair in options.items() for x in pair)]

    config = config_from_args(parse_args(argv(first)))
    space = SearchSpace(config.space, config.dataset, config.target)
    create_or_load_study(config, space, prepare(config, space))  # the study, as its first run made it
    before = db.read_bytes()

    code = main(argv(second))

    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0, err
    assert ("other --weights" if flag == "--weights" else f"{flag} {first}, this run has {flag} {second}") in err, err
    assert db.read_bytes() == before, "the refused run changed the storage"


def test_study_file_options_and_command_line_precedence(tmp_path: Path) -> None:
    from dse.optimize import parse_args

    study = _write(tmp_path / "study.toml", 'models = ["tiny_cnn", "resnet18"]\nn_trials = 7\nremeasure-front = true\n')
    args = parse_args(["--config", str(study), "--n-trials", "3"])
    assert args.models == ("tiny_cnn", "resnet18") and args.n_trials == 3 and args.remeasure_front is True


def test_storage_password_never_shown() -> None:
    from dse.study import redact, scrub

    url = "postgresql://dse:s3cret@db.lan:5432/dse"
    assert "s3cret" not in redact(url)
    assert scrub(f"could not connect to {url}: password s3cret rejected", url).count("s3cret") == 0
