"""An emulated Arm board for tests and dry runs: a TVM RPC server under qemu-user, on loopback.

``python -m dse.emulate arm [--port P] [--tracker HOST:PORT --key K]`` starts it, then
``python -m dse.optimize --target arm --rpc 127.0.0.1:P ...`` runs the whole Arm path (cross
compile, upload, accuracy and latency over RPC) with no board. Every latency it gives is
flagged ``emulated`` (the server registers ``dse.device.emulated``) and means nothing.

Unlike TVM's own server it serves each session in its own process instead of a forked child
(a fork under qemu-user can deadlock inside qemu), so it does not end a session at the
client's ``session_timeout``: a hung trial ends at dse's ``--trial-timeout``, which kills the
worker and so closes the session.

On first use it builds, under ``~/.cache/dse`` (or ``$DSE_CACHE``), an arm64 Debian root with
``mmdebstrap --variant=extract`` and unpacks the aarch64 wheels of TVM and its runtime
dependencies into it (downloaded with ``pip download --platform manylinux_2_28_aarch64``).
Host packages needed: ``qemu-user-static mmdebstrap`` (and ``gcc-aarch64-linux-gnu`` to
cross-compile for it). Importing this module does nothing of that.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

from dse.core.config import parse_host_port
from dse.core.errors import UsageError
from dse.core.files import file_lock

HOST_APT_PACKAGES = ("qemu-user-static", "mmdebstrap", "gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross")
SUITE = "bookworm"
PYTHON = "/usr/bin/python3.11"
DEBIAN_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6", "libgcc-s1", "libffi8", "zlib1g")
#: The board's Python side: TVM's runtime and what its RPC server imports (pins as the host's).
WHEELS = (
    "apache-tvm==0.27.0.post1",
    "apache-tvm-ffi==0.1.14.post1",
    "numpy<2.3",
    "ml_dtypes",
    "typing_extensions",
    "cloudpickle",
    "psutil",
)
ROOT_VERSION = "1"  # bump when the recipe changes: roots are rebuilt
READY_LINE = "DSE-EMULATED-READY"
START_TIMEOUT_S = 300.0

#: Runs under qemu: a TVM RPC server on loopback whose sessions say they are emulated.
SERVER_SCRIPT = r"""
import sys
sys.executable = sys.argv[1]  # no binfmt_misc: child Pythons must go through qemu
host, port, tracker, key = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
import tvm_ffi

@tvm_ffi.register_global_func("dse.device.emulated")
def _emulated():
    return True

import os
import socket
import types
from tvm.rpc import server
tracker_addr = None
if tracker:
    tracker_host, tracker_port = tracker.rsplit(":", 1)
    tracker_addr = (tracker_host, int(tracker_port))

# Stands in for the multiprocessing.Process that TVM's server forks per session: under
# qemu-user a forked child can deadlock inside qemu itself (seen in CI and here: a session
# child asleep on futexes with SIGTERM pending, its client waiting until the session timeout),
# so each session is served in this process, one after another, never forked.
class InProcessSession:
    def __init__(self, target, args):
        # The session loop closes the descriptor it is given, as a forked child would close its
        # copy: hand it a copy, so the server's own close of the socket still finds one.
        sock, *rest = args
        copy = os.dup(sock.fileno())
        self.target, self.args, self.exitcode = target, (types.SimpleNamespace(fileno=lambda: copy), *rest), None

    def start(self):
        try:
            self.target(*self.args)
        except Exception as exc:  # a client that went away: the next session is served all the same
            print(f"session ended: {exc}", file=sys.stderr, flush=True)
        self.exitcode = 0

    def join(self, timeout=None):
        pass

    def is_alive(self):
        return False

server.multiprocessing = types.SimpleNamespace(Process=InProcessSession)
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((host, port))
sock.listen(1)
real_port = sock.getsockname()[1]
print("DSE-EMULATED-READY", real_port, flush=True)
server._listen_loop(sock, real_port, key, tracker_addr, None, None)
"""


ROOT_NAME = "arm64-root"


def cache_dir() -> Path:
    return Path(os.environ.get("DSE_CACHE", Path.home() / ".cache" / "dse"))


def qemu_binary() -> str | None:
    return shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")


def require_tools(*tools: str) -> None:
    """One-line UsageError naming the apt packages when a host tool is missing."""
    missing = [tool for tool in tools if (qemu_binary() if tool == "qemu" else shutil.which(tool)) is None]
    if missing:
        raise UsageError(
            f"The emulated Arm board needs {', '.join(missing)}: apt-get install {' '.join(HOST_APT_PACKAGES)}"
        )


def _say(message: str) -> None:
    print(f"[dse.emulate] {message}", file=sys.stderr, flush=True)


def _run(cmd: Sequence[str], what: str) -> None:
    done = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UsageError(f"Building the emulated Arm board failed while {what}: {tail[0]}")


def ensure_root(cache: Path | None = None) -> Path:
    """The arm64 root with TVM's aarch64 wheels unpacked in it; built once (minutes), then reused."""
    cache = cache or cache_dir()
    root = cache / ROOT_NAME
    marker = root / ".dse-ready"
    if marker.exists() and marker.read_text() == ROOT_VERSION:
        return root
    require_tools("mmdebstrap")
    with file_lock(cache / f".{ROOT_NAME}.lock"):
        if marker.exists() and marker.read_text() == ROOT_VERSION:
            return root
        scratch = cache / f"{ROOT_NAME}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        _say(f"building an arm64 Debian {SUITE} root in {root} (once; about a minute)")
        _run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=extract",
                "--architectures=arm64",
                "--include=" + ",".join(DEBIAN_PACKAGES),
                SUITE,
                str(scratch),
            ],
            "running mmdebstrap",
        )
        wheels = cache / "arm64-wheels"
        _say(f"downloading aarch64 wheels into {wheels}: {' '.join(WHEELS)}")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--dest",
                str(wheels),
                "--only-binary=:all:",
                "--platform",
                "manylinux_2_28_aarch64",
                "--platform",
                "manylinux2014_aarch64",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                *WHEELS,
            ],
            "downloading wheels (pip download)",
        )
        site = scratch / "opt" / "dse" / "site"
        site.mkdir(parents=True, exist_ok=True)
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)
        shutil.rmtree(root, ignore_errors=True)
        scratch.rename(root)
        marker.write_text(ROOT_VERSION)
        _say("arm64 root ready")
    return root


def write_shim(root: Path, qemu: str) -> Path:
    """An executable that runs the root's Python under qemu (stands in for binfmt_misc)."""
    shim = root.parent / "arm64-python"
    shim.write_text(f'#!/bin/sh\nexec "{qemu}" -L "{root}" "{root}{PYTHON}" "$@"\n')
    shim.chmod(0o755)
    return shim


def server_command(root: Path, port: int, tracker: str | None, key: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment that start the emulated server on 127.0.0.1."""
    qemu = qemu_binary()
    if qemu is None:
        require_tools("qemu")
        raise AssertionError  # unreachable: require_tools raised
    shim = write_shim(root, qemu)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH="/opt/dse/site", PYTHONNOUSERSITE="1", TVM_NUM_THREADS=env.get("TVM_NUM_THREADS", "1"))
    cmd = [str(shim), "-c", SERVER_SCRIPT, str(shim), "127.0.0.1", str(port), tracker or "", key]
    return cmd, env


class EmulatedBoard:
    """A running emulated board (context manager): ``with EmulatedBoard(port) as board: board.address``."""

    def __init__(self, port: int = 9090, tracker: str | None = None, key: str = "", cache: Path | None = None):
        if tracker is not None:
            parse_host_port(tracker, "--tracker")
        self.port = port
        self.tracker = tracker
        self.key = key
        self.cache = cache
        self.process: subprocess.Popen[str] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> EmulatedBoard:
        require_tools("qemu")
        root = ensure_root(self.cache)
        cmd, env = server_command(root, self.port, self.tracker, self.key)
        _say(f"starting the emulated board on {self.address} (importing TVM under qemu takes ~30 s)")
        self.process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        assert self.process.stdout is not None
        for line in self.process.stdout:  # the server prints one line when it listens
            if line.startswith(READY_LINE):
                self.port = int(line.split()[1])
                return self
            if time.monotonic() > deadline:
                break
        self.stop()
        raise UsageError(f"The emulated Arm board did not start within {timeout_s:.0f} s (see the messages above)")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the server and anything it started
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.process is not None:
            # A process of the group stuck inside qemu never acts on SIGTERM: kill what is left.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def __enter__(self) -> EmulatedBoard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
