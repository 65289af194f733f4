"""``python -m dse.doctor``: which of the tool's capabilities work on this machine, and how to fix the rest.

Each capability is probed by *using* it (the cross compiler links a shared library, qemu runs
an aarch64 program, Chromium prints its version), not by asking a package manager, because an
installed package that does not work (``cannot find crti.o``) is the failure users actually hit.
One line per capability: ``OK`` or ``MISSING``, a short detail, and for MISSING the fix.

The exit status is 0 when every capability the default study needs is OK (plus the ones named
with ``--require``, or all with ``--require-all``), else 1; usage errors exit 2. Tests ask about
one capability with :func:`check` (see ``tests/_capabilities.py``), so a capability CI installs
fails there instead of being skipped.

This module imports nothing from the project (only the standard library, and the third-party
packages it probes, lazily), so it still runs when the rest of the installation is broken.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: apache-tvm-ffi version the project pins: 0.1.15.x segfaults in tvm::ffi::ToJSONGraph (MetaSchedule).
TVM_FFI_PIN = "0.1.14.post1"

#: Seconds any one external command may take before its capability counts as missing.
COMMAND_TIMEOUT_S = 20

Probe = Callable[[], tuple[bool, str]]


@dataclass(frozen=True)
class Capability:
    """One thing the tool can use, how to tell whether it works here, and how to get it.

    ``required`` marks what the default study (x86 CPU, untuned TVM, PyTorch reference) needs;
    ``debian`` lists the Debian packages that provide it (empty for pip-installed or hardware ones),
    so setup and CI scripts can install exactly what the doctor asks for.
    """

    name: str
    purpose: str
    probe: Probe
    fix: str
    required: bool = False
    debian: tuple[str, ...] = ()


# --- helpers -----------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    """The first non-empty line, so every detail stays on the capability's single output line."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _run(argv: Sequence[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command quietly with a timeout, so a hung tool costs seconds, not the whole doctor."""
    return subprocess.run(
        list(argv),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _failure(result: subprocess.CompletedProcess[str]) -> str:
    """Why a command failed, in one line: its first error line, else its exit status."""
    return _first_line(result.stderr) or _first_line(result.stdout) or f"exit status {result.returncode}"


def _apt(*packages: str) -> str:
    return "apt-get install " + " ".join(packages)


def _cache_dir() -> Path:
    """Where dse keeps the emulated board's root: the same rule as ``search_spaces.targets.devices.emulated.cache_dir`` (tests/dse/test_doctor.py checks they agree)."""
    return Path(os.environ.get("DSE_CACHE", Path.home() / ".cache" / "dse"))


def _qemu_binary() -> str | None:
    return shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")


CROSS_CC = "aarch64-linux-gnu-gcc"
ARM64_ROOT = "arm64-root"  # the emulated board's root folder under the cache
_SHARED_C = "int dse_doctor_answer(void) { return 42; }\n"
_HELLO_C = '#include <stdio.h>\nint main(void) { puts("dse-doctor-hello"); return 0; }\n'


# --- probes ------------------------------------------------------------------------------------


def _probe_tvm() -> tuple[bool, str]:
    """TVM imports and its FFI is the pinned version (a newer one crashes MetaSchedule, not import)."""
    ffi_version = importlib.metadata.version("apache-tvm-ffi")
    import tvm

    if ffi_version != TVM_FFI_PIN:
        return False, f"tvm {tvm.__version__} with apache-tvm-ffi {ffi_version}, but the pin is {TVM_FFI_PIN}"
    return True, f"tvm {tvm.__version__}, apache-tvm-ffi {ffi_version} (pinned)"


_X86_FEATURES = {  # shown name: (LLVM feature names, /proc/cpuinfo flag names)
    "AVX2": (("avx2",), ("avx2",)),
    "AVX-512": (("avx512f",), ("avx512f",)),
    "VNNI": (("avx512vnni", "avxvnni"), ("avx512_vnni", "avx_vnni")),
}
_ARM_FEATURES = {
    "NEON": (("neon",), ("asimd", "neon")),
    "dot-product": (("dotprod",), ("asimddp",)),
}


def _cpuinfo_flags() -> set[str]:
    """Feature flags of the first CPU in /proc/cpuinfo (``flags`` on x86, ``Features`` on Arm)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def _cpu_features(cpu: str, triple: str) -> tuple[set[str], str]:
    """The CPU's features as LLVM sees them (what TVM compiles for), else from /proc/cpuinfo."""
    try:
        import tvm
        from tvm.target import codegen

        target = tvm.target.Target({"kind": "llvm", "mcpu": cpu, "mtriple": triple})
        return set(codegen.llvm_get_cpu_features(target)), "LLVM"
    except Exception:  # noqa: BLE001 (older/newer TVM without the query: fall back to the kernel's view)
        return _cpuinfo_flags(), "/proc/cpuinfo"


def _probe_llvm_cpu() -> tuple[bool, str]:
    """The CPU TVM's LLVM detects, and the vector features the int8/fp32 schedules depend on."""
    from tvm.target import codegen

    cpu = str(codegen.llvm_get_system_cpu())
    triple = str(codegen.llvm_get_system_triple())
    if not cpu:
        return False, "TVM's LLVM reports no host CPU"
    features, source = _cpu_features(cpu, triple)
    arm = triple.startswith(("aarch64", "arm64")) or platform.machine() in ("aarch64", "arm64")
    table = _ARM_FEATURES if arm else _X86_FEATURES
    names = {"LLVM": 0, "/proc/cpuinfo": 1}[source]
    shown = ", ".join(f"{label} {'yes' if set(flags[names]) & features else 'no'}" for label, flags in table.items())
    return True, f"{cpu} ({triple}): {shown} [features from {source}]"


def _probe_torch() -> tuple[bool, str]:
    """PyTorch trains and evaluates the reference models; torchvision provides them."""
    import torch
    import torchvision

    return True, f"torch {torch.__version__}, torchvision {torchvision.__version__}"


def _probe_aarch64_cross() -> tuple[bool, str]:
    """The cross compiler links a shared library: an installed gcc without libc6-dev-arm64-cross cannot."""
    compiler = shutil.which(CROSS_CC)
    if compiler is None:
        return False, f"{CROSS_CC} not on PATH"
    with tempfile.TemporaryDirectory(prefix="dse-doctor-") as folder:
        Path(folder, "x.c").write_text(_SHARED_C)
        result = _run([compiler, "-shared", "-fPIC", "-o", "lib.so", "x.c"], cwd=folder)
        if result.returncode != 0:
            return False, f"{CROSS_CC} cannot link a shared library: {_failure(result)}"
    version = _first_line(_run([compiler, "-dumpversion"]).stdout)
    return True, f"{' '.join(filter(None, (CROSS_CC, version)))} links an aarch64 shared library"


def _probe_qemu_user() -> tuple[bool, str]:
    """qemu-user runs an aarch64 program (built with the cross compiler when it works, else --version)."""
    qemu = _qemu_binary()
    if qemu is None:
        return False, "neither qemu-aarch64-static nor qemu-aarch64 on PATH"
    name = Path(qemu).name
    if check("aarch64-cross")[0]:
        with tempfile.TemporaryDirectory(prefix="dse-doctor-") as folder:
            Path(folder, "hello.c").write_text(_HELLO_C)
            built = _run([CROSS_CC, "-static", "-o", "hello", "hello.c"], cwd=folder)
            if built.returncode != 0:
                return False, f"cannot build a static aarch64 test program: {_failure(built)}"
            ran = _run([qemu, str(Path(folder, "hello"))])
            if ran.returncode != 0 or "dse-doctor-hello" not in ran.stdout:
                return False, f"{name} did not run an aarch64 program: {_failure(ran)}"
        return True, f"{name} runs aarch64 programs"
    result = _run([qemu, "--version"])
    if result.returncode != 0:
        return False, f"{name} --version failed: {_failure(result)}"
    return True, f"{_first_line(result.stdout)} (not run: no working {CROSS_CC} to build a test program)"


def _probe_arm64_root() -> tuple[bool, str]:
    """The emulated board's arm64 root: built already, or buildable on first use with mmdebstrap."""
    root = _cache_dir() / ARM64_ROOT
    if (root / ".dse-ready").exists():
        return True, f"ready at {root}"
    if shutil.which("mmdebstrap"):
        return True, f"not built yet at {root}: built on first use with mmdebstrap (needs Debian mirror and PyPI)"
    return False, f"no arm64 root at {root} and no mmdebstrap on PATH to build it"


def _postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin``, as scripts/start_postgres.sh picks it."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)

    folders = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version)
    return folders[-1] if folders else None


def _probe_postgresql() -> tuple[bool, str]:
    """The server binaries exist and run, so a test (or CI) can start a throwaway PostgreSQL server."""
    folder = _postgres_bin()
    if folder is None:
        return False, "no /usr/lib/postgresql/*/bin (server binaries)"
    missing = [tool for tool in ("initdb", "pg_ctl") if not os.access(folder / tool, os.X_OK)]
    if missing:
        return False, f"{folder} lacks {', '.join(missing)}"
    result = _run([str(folder / "pg_ctl"), "--version"])
    if result.returncode != 0:
        return False, f"{folder / 'pg_ctl'} --version failed: {_failure(result)}"
    return True, f"{_first_line(result.stdout)}, initdb and pg_ctl in {folder}"


def _probe_chromium() -> tuple[bool, str]:
    """A headless browser runs, so the dashboard test can render the React app for real."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        return False, "none of chromium, chromium-browser, google-chrome on PATH"
    result = _run([browser, "--version"])
    version = _first_line(result.stdout)
    if result.returncode != 0 or not version:
        return False, f"{browser} --version failed: {_failure(result)}"
    return True, version


def _nvidia_smi() -> str:
    """The GPUs the driver lists, for the detail; empty when nvidia-smi is absent or fails."""
    if shutil.which("nvidia-smi") is None:
        return ""
    result = _run(["nvidia-smi", "-L"])
    if result.returncode != 0:
        return f"nvidia-smi -L failed: {_failure(result)}"
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return "; ".join(lines)


def _probe_cuda() -> tuple[bool, str]:
    """TVM sees a CUDA device, so ``--target cuda`` can measure, not only compile."""
    import tvm

    gpus = _nvidia_smi()
    if tvm.cuda(0).exist:
        return True, f"TVM sees cuda(0): {gpus or tvm.cuda(0).device_name}"
    return False, f"TVM sees no CUDA device ({gpus or 'nvidia-smi not on PATH'})"


def _probe_optuna_dashboard() -> tuple[bool, str]:
    """optuna-dashboard opens the study storage; its tests need it installed."""
    import optuna_dashboard

    version = getattr(optuna_dashboard, "__version__", None) or importlib.metadata.version("optuna-dashboard")
    return True, f"optuna-dashboard {version}"


def _probe_onnxruntime() -> tuple[bool, str]:
    """ONNX Runtime's CPU provider builds and runs a one-op model (``--runtimes onnxruntime``)."""
    import onnxruntime

    providers = onnxruntime.get_available_providers()
    if "CPUExecutionProvider" not in providers:
        return False, f"onnxruntime {onnxruntime.__version__} has no CPU provider ({providers})"
    return True, f"onnxruntime {onnxruntime.__version__} (CPU provider)"


def _probe_openvino() -> tuple[bool, str]:
    """OpenVINO's CPU plugin answers, and NNCF (its int8 path) imports (``--runtimes openvino``)."""
    import openvino

    devices = openvino.Core().available_devices
    if "CPU" not in devices:
        return False, f"openvino {openvino.get_version()} sees no CPU device ({devices})"
    try:
        import nncf
    except ImportError:
        return False, "openvino works but nncf (its int8 quantization) is missing"
    return True, f"openvino {openvino.get_version().split('-')[0]} (CPU plugin), nncf {nncf.__version__}"


# --- the table ---------------------------------------------------------------------------------

_TVM_FIX = f"pip install apache-tvm==0.27.0.post1 apache-tvm-ffi=={TVM_FFI_PIN} (or pip install -e . in the repository)"

_TABLE = (
    Capability("tvm", "compiles and runs every model", _probe_tvm, _TVM_FIX, required=True),
    Capability(
        "llvm-cpu",
        "TVM's LLVM code generation for the host CPU (x86 target)",
        _probe_llvm_cpu,
        f"use the apache-tvm wheel, which is built with LLVM: {_TVM_FIX}",
        required=True,
    ),
    Capability(
        "torch",
        "trains, prunes and evaluates the reference models",
        _probe_torch,
        "pip install -e . in the repository (pins torch and torchvision)",
        required=True,
    ),
    Capability(
        "aarch64-cross",
        "cross-compiles libraries for the arm targets",
        _probe_aarch64_cross,
        _apt("gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"),
        debian=("gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"),
    ),
    Capability(
        "qemu-user",
        "runs the emulated Arm board (a TVM RPC server under qemu-user)",
        _probe_qemu_user,
        _apt("qemu-user-static"),
        debian=("qemu-user-static",),
    ),
    Capability(
        "arm64-root",
        "the emulated board's arm64 Debian root with TVM's runtime",
        _probe_arm64_root,
        _apt("mmdebstrap"),
        debian=("mmdebstrap",),
    ),
    Capability(
        "postgresql",
        "a shared study storage for several workers (and its test)",
        _probe_postgresql,
        _apt("postgresql"),
        debian=("postgresql",),
    ),
    Capability(
        "chromium",
        "renders optuna-dashboard pages in the browser test",
        _probe_chromium,
        _apt("chromium"),
        debian=("chromium",),
    ),
    Capability(
        "cuda",
        "measures --target cuda on an NVIDIA GPU",
        _probe_cuda,
        "run on a machine with an NVIDIA GPU and the NVIDIA driver (nvidia-smi -L lists it)",
    ),
    Capability(
        "onnxruntime",
        "runs trials on ONNX Runtime (--runtimes onnxruntime)",
        _probe_onnxruntime,
        "pip install 'dse[runtimes]' (onnxruntime)",
    ),
    Capability(
        "openvino",
        "runs trials on OpenVINO, int8 through NNCF (--runtimes openvino)",
        _probe_openvino,
        "pip install 'dse[runtimes]' (openvino, nncf)",
    ),
    Capability(
        "optuna-dashboard",
        "browses studies (python -m optuna_dashboard); its tests",
        _probe_optuna_dashboard,
        "pip install optuna-dashboard (in the project's test extra: pip install -e '.[test]')",
    ),
)

#: Every capability, by name, in the order the doctor prints them.
CAPABILITIES: dict[str, Capability] = {capability.name: capability for capability in _TABLE}


@functools.cache  # functools.lru_cache(maxsize=None)
def check(name: str) -> tuple[bool, str]:
    """Run one capability's probe once per process; never raises for a known name.

    Any exception from the probe (an import error, a timeout) means MISSING, with its first line
    as the detail, so one broken tool cannot hide what the others say.
    """
    capability = CAPABILITIES[name]
    try:
        ok, detail = capability.probe()
    except Exception as exc:  # noqa: BLE001 (a probe's failure is the answer, not a crash)
        message = _first_line(str(exc))
        return False, f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return bool(ok), detail


# --- command line ------------------------------------------------------------------------------


class _UsageError(Exception):
    """A bad command line: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """One line instead of argparse's usage block, like the unknown-name error."""
        raise _UsageError(f"{message} (see python -m dse.doctor --help)")


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {c.name:<17} {c.purpose}{' (required)' if c.required else ''}" for c in _TABLE)
    parser = _Parser(
        prog="python -m dse.doctor",
        description="Say which capabilities work on this machine and how to fix the missing ones.",
        epilog=f"capabilities:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    needs = parser.add_mutually_exclusive_group()
    needs.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="also fail (exit 1) when these capabilities are missing; repeatable",
    )
    needs.add_argument("--require-all", action="store_true", help="fail when any capability is missing")
    parser.add_argument("--json", action="store_true", help="print a JSON list of {name, ok, detail, fix}")
    return parser


def _needed(require: list[str], require_all: bool) -> list[str]:
    """The capabilities whose absence fails the run: required ones plus those asked for."""
    if require_all:
        return list(CAPABILITIES)
    asked = [name.strip() for value in require for name in value.split(",") if name.strip()]
    unknown = [name for name in asked if name not in CAPABILITIES]
    if unknown:
        raise _UsageError(f"unknown capability {', '.join(map(repr, unknown))}; valid names: {', '.join(CAPABILITIES)}")
    return [name for name, c in CAPABILITIES.items() if c.required or name in asked]


def _line(capability: Capability, ok: bool, detail: str) -> str:
    status = "OK" if ok else "MISSING"
    fix = "" if ok else f". Fix: {capability.fix}"
    return f"{status:<8} {capability.name:<17} {detail}{fix}"


def _summary(needed: list[str], results: dict[str, tuple[bool, str]]) -> str:
    missing = [name for name in needed if not results[name][0]]
    if missing:
        return f"doctor: missing needed capabilities: {', '.join(missing)} (fixes above)"
    return f"doctor: all needed capabilities work ({', '.join(needed)})"


def main(argv: list[str] | None = None) -> int:
    """Probe every capability, print one line each, exit 0 if all needed ones work, 1 if not, 2 on bad usage."""
    try:
        args = _parser().parse_args(argv)
        needed = _needed(args.require, args.require_all)
    except _UsageError as error:
        print(f"python -m dse.doctor: {error}", file=sys.stderr)
        return 2
    results = {}
    for capability in _TABLE:
        results[capability.name] = check(capability.name)
        if not args.json:
            print(_line(capability, *results[capability.name]), flush=True)
    if args.json:
        records = [
            {"name": c.name, "ok": results[c.name][0], "detail": results[c.name][1], "fix": c.fix} for c in _TABLE
        ]
        print(json.dumps(records, indent=2))
    print(_summary(needed, results), file=sys.stderr if args.json else sys.stdout)
    return 0 if all(results[name][0] for name in needed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
