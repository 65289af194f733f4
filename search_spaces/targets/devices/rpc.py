"""A board reached over TVM RPC: through a tracker (``--rpc-tracker/--rpc-key``) or one server (``--rpc``).

The session is opened lazily at each ``load`` and released between trials (``release_all``),
so that a worker never holds the board while MetaSchedule's runner (or another worker) waits
for it through the tracker: the tracker and the server hand a board to one session at a time,
which keeps measurements one at a time per device.
"""

from __future__ import annotations

import functools
import os
import socket
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dse.core.config import parse_host_port
from dse.core.errors import DeviceUnavailable, UsageError, first_line
from search_spaces.targets.devices._base import Device, LoadedModule

if TYPE_CHECKING:
    import numpy as np

    from dse.core.config import DeviceOptions
    from dse.core.measure import Timer

#: Global function the emulated board registers (see ``search_spaces.targets.devices.emulated``).
EMULATED_FUNC = "dse.device.emulated"
CONNECT_TIMEOUT_S = 5.0

_open_devices: weakref.WeakSet[RPCDevice] = weakref.WeakSet()


def endpoint(options: DeviceOptions) -> str:
    """``tracker HOST:PORT key KEY`` or ``server HOST:PORT``, for messages."""
    if options.rpc_tracker:
        return f"RPC tracker {options.rpc_tracker} (key {options.rpc_key})"
    return f"RPC server {options.rpc_server}"


def check_tcp(address: str, flag: str, fix: str) -> None:
    """Raise a one-line UsageError unless ``address`` accepts a TCP connection."""
    host, port = parse_host_port(address, flag)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"Cannot reach {flag} {address} ({reason}). {fix}") from None


def check_tracker_key(options: DeviceOptions) -> None:
    """Raise a one-line UsageError when no server with ``--rpc-key`` is registered at the tracker."""
    from tvm import rpc

    assert options.rpc_tracker is not None  # checked by the caller
    host, port = parse_host_port(options.rpc_tracker, "--rpc-tracker")
    try:
        summary = rpc.connect_tracker(host, port).summary()
    except Exception as exc:  # noqa: BLE001 (a port that is open but not a tracker)
        raise UsageError(f"{options.rpc_tracker} is not a TVM RPC tracker ({first_line(exc)})") from None
    keys = {str(info.get("key", "")).split(":")[-1] for info in summary.get("server_info", [])}
    queued = set(summary.get("queue_info", {}))
    if options.rpc_key not in keys | queued:
        found = ", ".join(sorted(keys)) or "none"
        raise UsageError(
            f"No RPC server with key {options.rpc_key!r} is registered at {options.rpc_tracker} "
            f"(keys: {found}). On the board run: python -m tvm.exec.rpc_server --tracker "
            f"{options.rpc_tracker} --key {options.rpc_key}"
        )


def connect(options: DeviceOptions) -> Any:
    """Open an RPC session (DeviceUnavailable when the board cannot be reached)."""
    from tvm import rpc

    try:
        if options.rpc_tracker:
            host, port = parse_host_port(options.rpc_tracker, "--rpc-tracker")
            tracker = rpc.connect_tracker(host, port)
            return tracker.request(options.rpc_key, session_timeout=options.session_timeout_s)
        assert options.rpc_server is not None  # DeviceOptions.remote
        host, port = parse_host_port(options.rpc_server, "--rpc")
        return rpc.connect(host, port, session_timeout=options.session_timeout_s)
    except Exception as exc:  # TVMError, RuntimeError, OSError: all mean "no board now"
        raise DeviceUnavailable(f"{endpoint(options)}: {type(exc).__name__}: {first_line(exc)}") from exc


def _session_is_emulated(session: Any, options: DeviceOptions) -> bool:
    """Whether the board registers the emulated marker. Only a missing function means "real
    board": any other error is a session that broke, and reading it as "not emulated" would
    let emulated latencies pass as real ones."""
    try:
        return bool(session.get_function(EMULATED_FUNC)())
    except AttributeError:  # "Module has no function ...": a real board
        return False
    except Exception as exc:
        raise DeviceUnavailable(f"{endpoint(options)}: {type(exc).__name__}: {first_line(exc)}") from exc


@functools.lru_cache(maxsize=8)
def remote_is_emulated(options: DeviceOptions) -> bool:
    """Whether the board behind ``options`` is the emulated one (its timings are meaningless)."""
    return _session_is_emulated(connect(options), options)


def release_all() -> None:
    """Close every open RPC session of this process (they reopen at the next ``load``)."""
    for device in list(_open_devices):
        device.release()


class _RemoteModule(LoadedModule):
    """A Relax VM on the board. ``vm["main"](x)`` fails over RPC, so inputs go through set_input."""

    def __init__(self, session: Any, library_path: str, emulated: bool) -> None:
        from tvm import relax

        name = os.path.basename(library_path)
        session.upload(library_path, name)
        self._session = session
        self._device = session.cpu()
        self._vm = relax.VirtualMachine(session.load_module(name), self._device)
        self.emulated = emulated
        self.threads = self._remote_threads()

    def _remote_threads(self) -> int:
        try:
            return int(self._session.get_function("runtime.NumThreads")())
        except Exception:  # noqa: BLE001 (older runtimes: unknown)
            return 0

    def _set_input(self, x: np.ndarray) -> None:
        import tvm

        self._vm.set_input("main", tvm.runtime.tensor(x, self._device))

    def run(self, x: np.ndarray) -> np.ndarray:
        self._set_input(x)
        self._vm.invoke_stateful("main")
        out = self._vm.get_outputs("main")
        first = out if hasattr(out, "numpy") else out[0]
        return first.numpy()

    def timer(self, x: np.ndarray) -> Timer:
        self._set_input(x)

        def run(number: int, repeat: int) -> Sequence[float]:
            evaluator = self._vm.time_evaluator("invoke_stateful", self._device, number=number, repeat=repeat)
            return evaluator("main").results

        return run


class RPCDevice(Device):
    """A board behind a TVM RPC tracker or server."""

    remote = True

    def __init__(self, options: DeviceOptions) -> None:
        self.options = options
        self.description = endpoint(options)
        self._session: Any = None
        session = self._open()  # fail now (DeviceUnavailable) rather than at the first trial
        self.emulated = _session_is_emulated(session, options)
        if self.emulated:
            self.description += " (emulated: latencies are not real)"
        _open_devices.add(self)

    def _open(self) -> Any:
        if self._session is None:
            self._session = connect(self.options)
        return self._session

    def load(self, library_path: str) -> LoadedModule:
        self.release()  # a fresh session per trial: the previous module is done with
        try:
            return _RemoteModule(self._open(), library_path, self.emulated)
        except DeviceUnavailable:
            raise
        except Exception as exc:  # the session broke while uploading or loading
            self.release()
            raise DeviceUnavailable(f"{self.description}: {type(exc).__name__}: {first_line(exc)}") from exc

    def release(self) -> None:
        """Drop the session. It closes when its last reference goes; a module of the previous
        trial caught in a reference cycle would keep it open, and a TVM RPC server serves one
        session at a time, so the next connect would wait forever: collect cycles now."""
        import gc

        if self._session is not None:
            self._session = None
            gc.collect()

    def close(self) -> None:
        self.release()
