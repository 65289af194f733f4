"""``python -m dse.optimize``: run (or resume) an across-stack study for one target.

The CLI is a thin adapter: it parses, validates everything before touching storage, builds a
StudyConfig and hands it to the engine. Usage errors: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from dse.cli import Parser, csv_list, finite_float, param_values, report_usage_error
from dse.core.config import SAMPLERS, DeviceOptions, MeasureConfig, SpaceConfig, StudyConfig
from dse.core.errors import UsageError

# Small and varied: a few seconds to train each on the digits, seconds to compile.
DEFAULT_MODELS = ("tiny_cnn", "resnet18", "mobilenet_v2", "shufflenet_v2_x1_0", "vgg11")
DEFAULT_WORK_DIR = Path("studies")


def shared_options() -> argparse.ArgumentParser:
    """The options every study tool takes (space, data, storage, protocol), as an argparse parent.

    ``dse.compare`` builds its parser from this one (``parents=``), so an option is declared once.
    """
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--target", default="x86", help="hardware target preset (see --list-targets); default x86")
    p.add_argument("--dataset", default="digits", help="data set (default: digits, embedded, no download)")
    p.add_argument("--data-dir", type=Path, help="folder holding the data set's files (cifar10, imagefolder)")
    p.add_argument(
        "--models",
        type=csv_list,
        help=f"comma list of models or package.module:factory (default: {','.join(DEFAULT_MODELS)})",
    )
    p.add_argument(
        "--weights",
        help="'train' (train on first use, cached), 'pretrained' (torchvision), or a "
        "checkpoint file / folder of <model>.pt; default: train for digits, pretrained otherwise",
    )
    p.add_argument("--pruning", type=csv_list, help="restrict the pruning choices (default: all registered)")
    p.add_argument("--precision", type=csv_list, help="restrict the precision choices")
    p.add_argument("--algorithms", type=csv_list, help="restrict the convolution algorithm choices")
    p.add_argument("--tuning", type=csv_list, help="restrict the tuning choices")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        type=param_values,
        metavar="LAYER.CHOICE.KEY=V1,V2",
        help="search only these values of one choice's parameter (repeatable; names and values: "
        "--list-choices), e.g. --param pruning.magnitude.sparsity=0.5,0.8",
    )
    p.add_argument(
        "--runtimes",
        type=csv_list,
        help="layer-5 runtimes to search: tvm (default), onnxruntime, openvino (the host CPU only; "
        "algorithm and tuning apply to tvm only)",
    )
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite file studies/dse.db)")
    p.add_argument(
        "--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="study folder: caches, weights, tuning records"
    )
    p.add_argument("--tuning-db", type=Path, help="MetaSchedule database folder (default: <work-dir>/tuning/<target>)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for TVM and PyTorch")
    p.add_argument("--eval-limit", type=int, help="evaluate accuracy on at most this many images")
    p.add_argument("--repeat", type=int, default=10, help="latency samples per measurement (default 10)")
    p.add_argument("--min-repeat-ms", type=int, default=100, help="minimum length of one sample (default 100)")
    p.add_argument(
        "--trial-timeout", type=finite_float, default=1800.0, help="seconds before a trial is failed as timeout"
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def device_arguments() -> argparse.ArgumentParser:
    """How to reach a remote board, as an argparse parent (dse.optimize and dse.export)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--rpc-tracker", help="HOST:PORT of a TVM RPC tracker that holds the device")
    p.add_argument("--rpc-key", help="device key registered with the tracker")
    p.add_argument("--rpc", dest="rpc_server", help="HOST:PORT of a single TVM RPC server (no tracker)")
    p.add_argument(
        "--rpc-session-timeout",
        type=int,
        default=DeviceOptions.session_timeout_s,
        help="seconds after which the board ends an RPC session (a hung one then fails its trial as "
        f"retryable; default {DeviceOptions.session_timeout_s})",
    )
    return p


def device_options(args: argparse.Namespace) -> DeviceOptions:
    """The DeviceOptions of parsed ``device_arguments``."""
    return DeviceOptions(
        rpc_tracker=args.rpc_tracker,
        rpc_key=args.rpc_key,
        rpc_server=args.rpc_server,
        session_timeout_s=args.rpc_session_timeout,
    )


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m dse.optimize",
        description=__doc__.splitlines()[0] if __doc__ else None,
        parents=[shared_options(), device_arguments()],
    )
    p.add_argument("--n-trials", type=int, default=10, help="the study's total trial budget; re-running resumes")
    p.add_argument("--timeout", type=finite_float, help="stop starting new trials after this many seconds")
    p.add_argument("--sampler", default="tpe", choices=SAMPLERS, help="search strategy (default tpe)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    p.add_argument("--study-name", help="default: dse-<target>-<dataset>")
    p.add_argument(
        "--max-cv",
        type=finite_float,
        default=0.05,
        help="latency dispersion (std/mean) above which a measurement is taken again (default 0.05)",
    )
    p.add_argument("--max-remeasure", type=int, default=2, help="extra measurements a noisy one may get (default 2)")
    p.add_argument(
        "--verify",
        type=int,
        default=0,
        metavar="N",
        help="after the budget, run at most N matched-pair trials that confirm or reject the "
        "across-layer interactions the study suggests, and report each (default 0: none)",
    )
    p.add_argument(
        "--remeasure-front",
        action="store_true",
        help="time the Pareto front's libraries again at the end (kept under <work-dir>/artifacts)",
    )
    p.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help="do not write the HTML report and trials CSV beside the study at the end",
    )
    p.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="worker threads in this process, each compiling in its own process (default 1); start "
        "more processes or machines on the same --storage to scale further",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=1,
        help="re-queue a trial that failed for a retryable reason (timeout, crash, device) up to this often",
    )
    p.add_argument(
        "--heartbeat-interval",
        type=finite_float,
        default=20.0,
        help="seconds between a running trial's heartbeats; 3 missed ones mark its worker dead (default 20)",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="study file (TOML): keys are these options' long names, "
        'e.g. n-trials = 20, models = ["tiny_cnn"]; options given on the command line win',
    )
    p.add_argument("--list-targets", action="store_true", help="list target presets and exit")
    p.add_argument("--list-models", action="store_true", help="list registered models and exit")
    p.add_argument("--list-choices", action="store_true", help="list every layer's registered choices and exit")
    return p


def options_over(values: Mapping[str, object], base_argv: Sequence[str] = ()) -> argparse.Namespace:
    """dse.optimize's options parsed from ``base_argv`` (its defaults where empty) with ``values``
    set over them: how dse.compare and dse.export get a StudyConfig (``config_from_args``)
    validated exactly as optimize's own."""
    ns = build_parser().parse_args(list(base_argv))
    for key, value in values.items():
        setattr(ns, key, value)
    return ns


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line, with a ``--config`` study file's options in front of it."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is None:
        return args
    from dse.studyfile import study_file_argv

    file_argv = study_file_argv(args.config, parser)
    try:
        parser.parse_args(file_argv)
    except UsageError as exc:
        raise UsageError(f"in --config {str(args.config)!r}: {exc}") from None
    return parser.parse_args([*file_argv, *argv])


def _listing(args: argparse.Namespace) -> str | None:
    if args.list_targets:
        from search_spaces.targets import TARGETS

        return "\n".join(f"{name:12s} {preset.description}" for name, preset in TARGETS.items())
    if args.list_models:
        from search_spaces.models import MODELS

        return "\n".join(f"{name:20s} {spec.description}" for name, spec in MODELS.items())
    if args.list_choices:
        from dse.core.layers import TVM_ONLY_LAYERS
        from search_spaces import layer_registries

        lines = []
        for layer, registry in layer_registries().items():
            only = "  (runtime tvm only: other runtimes choose their own kernels)" if layer in TVM_ONLY_LAYERS else ""
            lines.append(f"{layer}:{only}")
            for name, choice in registry.items():
                opt_in = "  [opt-in: name it to search it]" if choice.opt_in else ""
                lines.append(f"  {name:22s} {choice.description}{opt_in}")
                lines.extend(
                    f"      --param {choice.param_name(param.key)}={','.join(str(v) for v in param.values())}"
                    + (f"  (when {param.when[0]}={param.when[1]})" if param.when else "")
                    for param in choice.parameters()
                )
        return "\n".join(lines)
    return None


def config_from_args(args: argparse.Namespace) -> StudyConfig:
    """Build and validate the StudyConfig (raises UsageError; touches nothing)."""
    from dse.study import default_storage, validate_storage_url
    from search_spaces.datasets import DATASETS
    from search_spaces.targets import TARGETS

    TARGETS.get(args.target)
    dataset = DATASETS.get(args.dataset)
    work_dir = args.work_dir.resolve()
    storage = args.storage or default_storage(work_dir)
    if args.storage:
        validate_storage_url(storage, will_create=work_dir)
    weights = args.weights or ("train" if dataset.trainable_by_default else "pretrained")
    config = StudyConfig(
        target=args.target,
        dataset=args.dataset,
        data_dir=args.data_dir,
        space=SpaceConfig(
            models=args.models or DEFAULT_MODELS,
            pruning=args.pruning or (),
            precision=args.precision or (),
            algorithm=args.algorithms or (),
            tuning=args.tuning or (),
            runtime=args.runtimes or (),
            params=tuple(args.param),
        ),
        storage=storage,
        study_name=args.study_name or f"dse-{args.target}-{args.dataset}",
        work_dir=work_dir,
        weights=weights,
        n_trials=args.n_trials,
        timeout_s=args.timeout,
        sampler=args.sampler,
        seed=args.seed,
        threads=args.threads,
        eval_limit=args.eval_limit,
        trial_timeout_s=args.trial_timeout,
        tuning_db=args.tuning_db,
        measure=MeasureConfig(
            repeat=args.repeat, min_repeat_ms=args.min_repeat_ms, max_cv=args.max_cv, max_remeasure=args.max_remeasure
        ),
        device=device_options(args),
        n_jobs=args.n_jobs,
        max_retries=args.max_retries,
        remeasure_front=args.remeasure_front,
        verify=args.verify,
        heartbeat_interval_s=args.heartbeat_interval,
        report=args.report,
    )
    dataset.check_data_dir(config.data_dir)
    _check_runtimes(config)
    _check_per_layer(config)
    return config


def _check_per_layer(config: StudyConfig) -> None:
    """``per_layer`` times each layer on this host: not what a remote device runs."""
    if "per_layer" in config.space.algorithm and config.device.remote:
        raise UsageError(
            "--algorithms per_layer times each layer on this host's CPU, not on the remote device "
            "(--rpc/--rpc-tracker); leave per_layer out there"
        )


def _check_runtimes(config: StudyConfig) -> None:
    """Runtimes other than TVM run on this host's CPU, from an installed package: say so now."""
    from search_spaces.runtimes import RUNTIMES
    from search_spaces.targets import TARGETS

    for name in config.space.runtime:
        runtime = RUNTIMES.get(name)
        if runtime.uses_tvm:
            continue
        if not runtime.available():
            raise UsageError(f"--runtimes {name} needs the {runtime.package} package: pip install 'dse[runtimes]'")
        if config.device.remote or not TARGETS.get(config.target).is_this_host_cpu():
            where = "a remote device (--rpc/--rpc-tracker)" if config.device.remote else f"--target {config.target}"
            raise UsageError(
                f"--runtimes {name} runs on this host's CPU only, not on {where}; use --runtimes tvm there"
            )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = parse_args(argv)
        listing = _listing(args)
        if listing is not None:
            print(listing)
            return 0
        config = config_from_args(args)
        from dse.run import run

        print(run(config))
        return 0
    except UsageError as exc:
        return report_usage_error(exc, debug)
    except KeyboardInterrupt:
        print("interrupted: completed trials are stored; re-run the same command to resume", file=sys.stderr)
        return 130


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
