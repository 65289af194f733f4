"""An emulated Arm board for tests and dry runs: a TVM RPC server under qemu-user, on loopback.

``python -m dse.emulate arm [--port P] [--tracker HOST:PORT --key K]`` starts it; then
``python -m dse.optimize --target arm --rpc 127.0.0.1:P ...`` runs the whole Arm path with no
board. The board itself lives with the rest of the hardware in
``search_spaces.targets.devices.emulated``; this is its command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dse.core.errors import UsageError
from search_spaces.targets.devices.emulated import EmulatedBoard


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dse.emulate", description=__doc__.split("\n")[0])
    parser.add_argument("arch", choices=["arm"], help="the board to emulate")
    parser.add_argument("--port", type=int, default=9090, help="port on 127.0.0.1 (default 9090)")
    parser.add_argument("--tracker", help="register with this RPC tracker, HOST:PORT")
    parser.add_argument("--key", default="emulated-arm", help="key for the tracker (default emulated-arm)")
    args = parser.parse_args(argv)
    board = EmulatedBoard(args.port, args.tracker, args.key if args.tracker else "")
    try:
        board.start()
        how = f"--rpc-tracker {args.tracker} --rpc-key {args.key}" if args.tracker else f"--rpc {board.address}"
        print(
            f"Emulated Arm board on {board.address} (latencies are emulated). "
            f"Use: python -m dse.optimize --target arm {how} ... ; Ctrl-C stops it.",
            flush=True,
        )
        assert board.process is not None
        return board.process.wait()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        board.stop()


if __name__ == "__main__":
    sys.exit(main())
